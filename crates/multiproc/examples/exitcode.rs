//! Exit codes: 0 for a normal return, `n` after `exit(n)`, 1 after a panic, `-signal` after a
//! signal (the chapter's `multiprocessing_exitcode.py`).

use std::thread::sleep;
use std::time::Duration;

fn exit_error(_: ()) {
    multiproc::exit(1);
}

fn exit_ok(_: ()) {}

fn return_value(_: ()) -> i32 {
    1
}

fn raises(_: ()) {
    panic!("There was an error!");
}

fn terminated(_: ()) {
    sleep(Duration::from_secs(3));
}

fn start<F, R>(name: &str, target: F) -> multiproc::Handle<R>
where
    F: Fn(()) -> R + Copy + Send + 'static,
    R: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    println!("Starting process for {name}");
    multiproc::Process::new(target, ())
        .name(name)
        .start()
        .expect("start")
}

fn main() {
    let exit_error = start("exit_error", exit_error);
    let exit_ok = start("exit_ok", exit_ok);
    let return_value = start("return_value", return_value);
    let raises = start("raises", raises);
    let terminated = start("terminated", terminated);

    terminated.terminate().expect("terminate");

    for (name, code) in [
        (exit_error.name(), exit_error.wait()),
        (exit_ok.name(), exit_ok.wait()),
        (return_value.name(), return_value.wait()),
        (raises.name(), raises.wait()),
        (terminated.name(), terminated.wait()),
    ] {
        println!("{name}.exitcode = {code}");
    }
}
