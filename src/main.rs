//! The thin binary: parse, start logging, run, exit with the command's code.

fn main() {
    let cli = shipdeck::cli::parse();
    // Logging problems are not fatal and never printed: the terminal belongs to the UI.
    let _ = shipdeck::logging::init(
        cli.log_level.as_deref(),
        shipdeck::logging::log_path().as_deref(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.worker_threads())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(shipdeck::cli::EXIT_DEGRADED);
        }
    };
    let code = runtime.block_on(async {
        let code = Box::pin(shipdeck::cli::run(cli)).await;
        // Runs this process drives let go of what they hold (Fly's leases).
        if !shipdeck::platforms::shutdown(std::time::Duration::from_secs(15)).await {
            tracing::warn!("a run did not release its leases in time; they lapse on their own");
        }
        // Notifications in flight go out, or are recorded as not delivered.
        if !shipdeck::notify::shutdown(std::time::Duration::from_secs(5)).await {
            tracing::warn!("notifications still in flight at exit were not sent");
        }
        code
    });
    std::process::exit(code);
}
