//! Language features that need a Rust newer than 1.85, found in source by their syntax.
//!
//! rustc does not compare what a crate uses with its `rust-version`, and clippy's
//! `incompatible_msrv` lint only knows library items (functions, types, methods). So a `let`
//! chain, say, compiles on today's Rust while the crate claims a release that refuses it. This
//! module finds the features below. Edition 2024, which every crate here uses, already needs
//! 1.85, so only what came after it is listed. Not listed, and not found: features that syntax
//! does not show (trait upcasting, 1.86; inferred `_` const arguments, 1.89; type inference
//! and borrow checker improvements), and code inside `macro_rules!` bodies or in macro calls
//! whose arguments are not expressions.

use std::fmt;

use proc_macro2::{Delimiter, LineColumn, Span, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, Meta, Signature, Token};

use crate::version::RustVersion;

/// A language feature and the first stable Rust that has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Feature {
    /// `#[target_feature]` on a safe `fn` (1.86).
    TargetFeatureOnSafeFn,
    /// A `label` operand in `asm!` (1.87).
    AsmGoto,
    /// `impl Trait + use<..>` returned from a trait's method (1.87).
    PreciseCapturingInTrait,
    /// `if let … && …` and `while let … && …` (1.88, edition 2024).
    LetChain,
    /// `#[unsafe(naked)]` functions (1.88).
    NakedFunction,
    /// `cfg(true)` and `cfg(false)` (1.88).
    CfgBooleanLiteral,
    /// The AVX-512, SHA512, SM3, SM4 and Key Locker target features in `#[target_feature]`
    /// (1.89).
    Avx512Family,
    /// `#[repr(u128)]` and `#[repr(i128)]` enums (1.89).
    Repr128,
}

impl Feature {
    /// The first stable release with the feature.
    pub(crate) fn since(self) -> RustVersion {
        match self {
            Feature::TargetFeatureOnSafeFn => RustVersion::new(86),
            Feature::AsmGoto | Feature::PreciseCapturingInTrait => RustVersion::new(87),
            Feature::LetChain | Feature::NakedFunction | Feature::CfgBooleanLiteral => {
                RustVersion::new(88)
            }
            Feature::Avx512Family | Feature::Repr128 => RustVersion::new(89),
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::TargetFeatureOnSafeFn => "#[target_feature] on a safe fn",
            Feature::AsmGoto => "a label operand in asm!",
            Feature::PreciseCapturingInTrait => "use<..> in a trait method's return type",
            Feature::LetChain => "a let chain",
            Feature::NakedFunction => "a naked function",
            Feature::CfgBooleanLiteral => "cfg(true) or cfg(false)",
            Feature::Avx512Family => "an AVX-512 (or SHA512, SM3, SM4, Key Locker) target feature",
            Feature::Repr128 => "a 128-bit enum repr",
        })
    }
}

/// One use of a feature: where it starts in its file (line from 1, column from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) feature: Feature,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Every use of a listed feature in one source file, in the order met.
pub(crate) fn scan(source: &str) -> syn::Result<Vec<Found>> {
    let file = syn::parse_file(source)?;
    let mut finder = Finder::default();
    finder.visit_file(&file);
    Ok(finder.found)
}

#[derive(Default)]
struct Finder {
    found: Vec<Found>,
}

impl Finder {
    fn note(&mut self, feature: Feature, span: Span) {
        let LineColumn { line, column } = span.start();
        self.found.push(Found {
            feature,
            line,
            column: column + 1,
        });
    }

    /// A condition (of `if`, `while` or a match guard) that chains a `let` with `&&`.
    fn condition(&mut self, cond: &Expr) {
        if let Expr::Binary(b) = cond
            && matches!(b.op, syn::BinOp::And(_))
            && let Some(span) = first_let(cond)
        {
            self.note(Feature::LetChain, span);
        }
    }

    /// The attributes of a function, with its signature.
    fn function(&mut self, attrs: &[Attribute], sig: &Signature) {
        let target_feature = attrs.iter().find(|a| a.path().is_ident("target_feature"));
        if let Some(attr) = target_feature
            && sig.unsafety.is_none()
        {
            self.note(Feature::TargetFeatureOnSafeFn, attr.pound_token.span);
        }
    }
}

/// The `let` of a `&&` chain, if it has one.
fn first_let(e: &Expr) -> Option<Span> {
    match e {
        Expr::Let(l) => Some(l.let_token.span),
        Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
            first_let(&b.left).or_else(|| first_let(&b.right))
        }
        _ => None,
    }
}

/// Whether `tokens` (a cfg predicate) hold a bare `true` or `false`, at any depth.
fn has_boolean_literal(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "true" || i == "false",
        TokenTree::Group(g) => has_boolean_literal(g.stream()),
        _ => false,
    })
}

/// The predicate of `cfg_attr(predicate, attrs…)`: the tokens before the first comma.
fn cfg_attr_predicate(tokens: TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .take_while(|tt| !matches!(tt, TokenTree::Punct(p) if p.as_char() == ','))
        .collect()
}

/// Whether a `target_feature` list names a feature stabilized in 1.89.
fn has_189_target_feature(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Literal(lit) => {
            let text = lit.to_string();
            text.trim_matches('"').split(',').any(|f| {
                let f = f.trim();
                f.starts_with("avx512") || matches!(f, "sha512" | "sm3" | "sm4" | "kl" | "widekl")
            })
        }
        TokenTree::Group(g) => has_189_target_feature(g.stream()),
        _ => false,
    })
}

/// Whether `asm!` tokens hold a `label { … }` operand.
fn has_asm_label(tokens: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    tokens.windows(2).any(|w| {
        matches!((&w[0], &w[1]), (TokenTree::Ident(i), TokenTree::Group(g))
            if i == "label" && g.delimiter() == Delimiter::Brace)
    })
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_expr_if(&mut self, i: &'ast syn::ExprIf) {
        self.condition(&i.cond);
        visit::visit_expr_if(self, i);
    }

    fn visit_expr_while(&mut self, i: &'ast syn::ExprWhile) {
        self.condition(&i.cond);
        visit::visit_expr_while(self, i);
    }

    fn visit_arm(&mut self, i: &'ast syn::Arm) {
        if let Some((_, guard)) = &i.guard {
            self.condition(guard);
        }
        visit::visit_arm(self, i);
    }

    fn visit_item_fn(&mut self, i: &'ast syn::ItemFn) {
        self.function(&i.attrs, &i.sig);
        visit::visit_item_fn(self, i);
    }

    fn visit_impl_item_fn(&mut self, i: &'ast syn::ImplItemFn) {
        self.function(&i.attrs, &i.sig);
        visit::visit_impl_item_fn(self, i);
    }

    fn visit_trait_item_fn(&mut self, i: &'ast syn::TraitItemFn) {
        self.function(&i.attrs, &i.sig);
        if let syn::ReturnType::Type(_, ty) = &i.sig.output
            && let syn::Type::ImplTrait(it) = &**ty
            && let Some(syn::TypeParamBound::PreciseCapture(pc)) = it
                .bounds
                .iter()
                .find(|b| matches!(b, syn::TypeParamBound::PreciseCapture(_)))
        {
            self.note(Feature::PreciseCapturingInTrait, pc.use_token.span);
        }
        visit::visit_trait_item_fn(self, i);
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        let span = attr.pound_token.span;
        let path = attr.path();
        if let Meta::List(list) = &attr.meta {
            let tokens = list.tokens.clone();
            if path.is_ident("cfg") && has_boolean_literal(tokens.clone()) {
                self.note(Feature::CfgBooleanLiteral, span);
            }
            if path.is_ident("cfg_attr") && has_boolean_literal(cfg_attr_predicate(tokens.clone()))
            {
                self.note(Feature::CfgBooleanLiteral, span);
            }
            if path.is_ident("target_feature") && has_189_target_feature(tokens.clone()) {
                self.note(Feature::Avx512Family, span);
            }
            if path.is_ident("repr")
                && tokens
                    .clone()
                    .into_iter()
                    .any(|tt| matches!(&tt, TokenTree::Ident(i) if i == "u128" || i == "i128"))
            {
                self.note(Feature::Repr128, span);
            }
            if path.is_ident("unsafe")
                && tokens
                    .into_iter()
                    .any(|tt| matches!(&tt, TokenTree::Ident(i) if i == "naked"))
            {
                self.note(Feature::NakedFunction, span);
            }
        }
        if path.is_ident("naked") {
            self.note(Feature::NakedFunction, span);
        }
        visit::visit_attribute(self, attr);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = mac.path.segments.last().map(|s| s.ident.to_string());
        let span = mac.bang_token.span;
        match name.as_deref() {
            Some("cfg") if has_boolean_literal(mac.tokens.clone()) => {
                self.note(Feature::CfgBooleanLiteral, span);
            }
            Some("asm" | "global_asm" | "naked_asm") if has_asm_label(mac.tokens.clone()) => {
                self.note(Feature::AsmGoto, span);
            }
            _ => {}
        }
        // Macro calls whose arguments are expressions (`assert!`, `println!`, `vec!`, …):
        // look inside them too.
        if let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
        visit::visit_macro(self, mac);
    }
}

#[cfg(test)]
mod tests {
    use super::{Feature, scan};

    fn features(source: &str) -> Vec<(Feature, usize)> {
        scan(source)
            .unwrap()
            .into_iter()
            .map(|f| (f.feature, f.line))
            .collect()
    }

    #[test]
    fn finds_let_chains_in_if_while_and_guards_with_their_line() {
        let src = r#"
fn f(a: Option<u8>, b: bool) {
    if let Some(x) = a && x > 1 {}
    while b && let Some(_) = a {}
    match a {
        Some(x) if x > 0 && let Some(_) = a => {}
        _ => {}
    }
}
"#;
        assert_eq!(
            features(src),
            [
                (Feature::LetChain, 3),
                (Feature::LetChain, 4),
                (Feature::LetChain, 6)
            ]
        );
    }

    #[test]
    fn plain_if_let_and_boolean_and_are_not_let_chains() {
        let src = r#"
fn f(a: Option<u8>, b: bool, c: bool) {
    if let Some(_) = a {}
    if b && c {}
    while let Some(_) = a {}
    let _ = if b { a.is_some() && c } else { false };
}
"#;
        assert_eq!(features(src), []);
    }

    #[test]
    fn looks_inside_expression_macros() {
        let src = r#"
fn f(a: Option<u8>) {
    assert!(if let Some(x) = a && x > 1 { true } else { false }, "{a:?}");
}
"#;
        assert_eq!(features(src), [(Feature::LetChain, 3)]);
    }

    #[test]
    fn finds_x86_target_features_of_1_89_and_safe_target_feature_fns() {
        let src = r#"
#[target_feature(enable = "avx512bw,avx512vl")]
unsafe fn wide() {}
#[target_feature(enable = "avx2")]
unsafe fn narrow() {}
#[target_feature(enable = "avx2")]
fn safe() {}
"#;
        assert_eq!(
            features(src),
            [
                (Feature::Avx512Family, 2),
                (Feature::TargetFeatureOnSafeFn, 6)
            ]
        );
    }

    #[test]
    fn finds_cfg_literals_naked_functions_and_wide_reprs() {
        let src = r#"
#[cfg(any(true, unix))]
fn a() {}
#[cfg_attr(false, doc = "x")]
fn b() {}
#[cfg_attr(unix, doc = "true")]
fn c() { let _ = cfg!(false); }
#[unsafe(naked)]
extern "C" fn d() {}
#[repr(u128)]
enum E { A }
#[repr(u8)]
enum F { A }
"#;
        assert_eq!(
            features(src),
            [
                (Feature::CfgBooleanLiteral, 2),
                (Feature::CfgBooleanLiteral, 4),
                (Feature::CfgBooleanLiteral, 7),
                (Feature::NakedFunction, 8),
                (Feature::Repr128, 10)
            ]
        );
    }

    #[test]
    fn finds_asm_goto_and_precise_capturing_in_traits() {
        let src = r#"
trait T {
    fn it(&self) -> impl Iterator<Item = u8> + use<Self>;
}
fn f() -> impl Sized + use<> {}
unsafe fn g() {
    core::arch::asm!("jmp {}", label { return; });
    core::arch::asm!("nop");
}
"#;
        assert_eq!(
            features(src),
            [(Feature::PreciseCapturingInTrait, 3), (Feature::AsmGoto, 7)]
        );
    }

    #[test]
    fn versions_are_those_of_the_release_notes() {
        assert_eq!(Feature::LetChain.since().to_string(), "1.88");
        assert_eq!(Feature::Avx512Family.since().to_string(), "1.89");
        assert_eq!(Feature::TargetFeatureOnSafeFn.since().to_string(), "1.86");
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error() {
        assert!(scan("fn f( {").is_err());
    }
}
