//! Workers are retired after two tasks and replaced (the chapter's
//! `multiprocessing_pool_maxtasksperchild.py`).

fn do_calculation(data: i64) -> i64 {
    data * 2
}

fn start_process(_: ()) {
    println!("Starting {}", multiproc::current_process().name());
}

fn main() -> Result<(), multiproc::PoolError> {
    multiproc::init();
    let inputs: Vec<i64> = (0..10).collect();
    println!("Input   : {inputs:?}");

    let builtin_outputs: Vec<i64> = inputs.iter().copied().map(do_calculation).collect();
    println!("Built-in: {builtin_outputs:?}");

    let pool_size = multiproc::cpu_count() * 2;
    let pool = multiproc::Pool::builder()
        .processes(pool_size)
        .initializer(start_process, ())
        .max_tasks_per_child(2)
        .build()?;
    let pool_outputs = pool.map(do_calculation, inputs)?;
    pool.close(); // no more tasks
    pool.join(); // wrap up current tasks

    println!("Pool    : {pool_outputs:?}");
    Ok(())
}
