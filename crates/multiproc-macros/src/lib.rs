//! Attribute macros for [`multiproc`](https://docs.rs/multiproc).
//!
//! Neither is needed any more: multiproc catches its children before `main` with a process
//! constructor, so a plain `fn main` and plain `#[test]` functions may start processes. Both
//! remain so that existing programs keep compiling, and both are harmless:
//!
//! - `#[multiproc::main]` makes `multiproc::init()` (which only prepares the exit hook) the
//!   first statement of `main`;
//! - `#[multiproc::test]` is `#[test]` with the same first statement.
//!
//! Both work on the function's tokens alone and accept `async`-free functions with any return type.

use proc_macro::{Delimiter, Group, Span, TokenStream, TokenTree};

/// Makes `multiproc::init()` the first statement of the annotated `main`. Optional: a plain
/// `main` works the same.
///
/// ```ignore
/// #[multiproc::main]
/// fn main() {
///     // runs once, in the parent only: children are caught before `main`
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[multiproc::main] takes no arguments");
    }
    match split_fn(item) {
        Ok((head, _name, body)) => {
            let prelude: TokenStream = "::multiproc::init();".parse().expect("valid tokens");
            assemble(TokenStream::new(), head, prelude, body)
        }
        Err(e) => e,
    }
}

/// Declares a test that may start processes. Optional: a plain `#[test]` may start processes
/// too, since children are caught before the test harness's `main` runs.
///
/// It expands to a plain `#[test]` whose first statement is `multiproc`'s harmless entry
/// call, so it works under `cargo test` and `cargo nextest run`, with any libtest flags.
///
/// ```ignore
/// #[multiproc::test]
/// fn child_returns_value() {
///     let h = multiproc::Process::new(|x: u32| x * 2, 21).start().unwrap();
///     assert_eq!(h.join().unwrap(), 42);
/// }
/// ```
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[multiproc::test] takes no arguments");
    }
    match split_fn(item) {
        Ok((head, name, body)) => {
            let prelude: TokenStream =
                format!("::multiproc::__private::enter_test(::core::module_path!(), \"{name}\");")
                    .parse()
                    .expect("valid tokens");
            let attrs: TokenStream = "#[::core::prelude::v1::test]"
                .parse()
                .expect("valid tokens");
            assemble(attrs, head, prelude, body)
        }
        Err(e) => e,
    }
}

/// Splits `... fn name ... { body }` into everything before the body, the name and the body.
fn split_fn(item: TokenStream) -> Result<(Vec<TokenTree>, String, Group), TokenStream> {
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        _ => return Err(error("expected a function with a body")),
    };
    let mut name = None;
    let mut iter = tokens.iter();
    while let Some(tt) = iter.next() {
        if let TokenTree::Ident(i) = tt {
            let s = i.to_string();
            if s == "async" {
                return Err(error("multiproc entry points cannot be async"));
            }
            if s == "fn" {
                if let Some(TokenTree::Ident(n)) = iter.next() {
                    name = Some(n.to_string());
                }
                break;
            }
        }
    }
    let name = name.ok_or_else(|| error("expected a function"))?;
    Ok((tokens, name, body))
}

fn assemble(
    attrs: TokenStream,
    head: Vec<TokenTree>,
    prelude: TokenStream,
    body: Group,
) -> TokenStream {
    let mut inner = prelude;
    inner.extend(body.stream());
    let mut new_body = Group::new(Delimiter::Brace, inner);
    new_body.set_span(body.span());
    let mut out = attrs;
    out.extend(head);
    out.extend([TokenTree::Group(new_body)]);
    out
}

fn error(msg: &str) -> TokenStream {
    let mut ts: TokenStream = format!("::core::compile_error!({msg:?});")
        .parse()
        .expect("valid tokens");
    // Point at the call site.
    ts = ts
        .into_iter()
        .map(|mut tt| {
            tt.set_span(Span::call_site());
            tt
        })
        .collect();
    ts
}
