//! Command line: serve, healthcheck, --version, --help. Exit codes live here.

use std::fmt::Write as _;
use std::process::ExitCode;

use moscow_time::config::{self, Config, SETTINGS};
use moscow_time::{healthcheck, log, server, shutdown};

/// Exit codes: 0 success, 1 runtime failure (bind, unhealthy), 2 usage or
/// configuration error, in every subcommand.
const FAILURE: u8 = 1;
const USAGE: u8 = 2;

fn main() -> ExitCode {
    // Every line in the format LOG_FORMAT asks for, from the first one.
    log::set_format(config::log_format_from_env());
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let args: Vec<_> = args
        .iter()
        .map(|a| a.to_str().unwrap_or("\u{fffd}"))
        .collect();
    match args.as_slice() {
        [] => serve(),
        ["healthcheck"] => check_health(),
        ["--version" | "-V"] => {
            println!("moscow-time {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help" | "-h"] => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        [other, ..] => {
            log::error(format_args!(
                "unexpected argument {other:?}\n\n{}",
                usage().trim_end()
            ));
            ExitCode::from(USAGE)
        }
    }
}

/// Serves until SIGTERM/SIGINT: 0 after a clean stop, 1 if the address cannot
/// be bound, 2 on a bad setting.
fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            log::error(format_args!("{err}"));
            return ExitCode::from(USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            log::error(format_args!("failed to start the async runtime: {err}"));
            return ExitCode::from(FAILURE);
        }
    };
    runtime.block_on(async {
        let addr = config.listen_addr();
        let listener = match server::bind(addr) {
            Ok(listener) => listener,
            Err(err) => {
                log::error(format_args!("failed to bind {addr}: {err}"));
                return ExitCode::from(FAILURE);
            }
        };
        let signal = match shutdown::signal() {
            Ok(signal) => signal,
            Err(err) => {
                log::error(format_args!("failed to install signal handlers: {err}"));
                return ExitCode::from(FAILURE);
            }
        };
        let bound = listener.local_addr().unwrap_or(addr);
        log::info(format_args!(
            "{} listening on http://{bound}",
            env!("CARGO_PKG_VERSION")
        ));
        server::run(listener, &config, signal).await;
        log::info(format_args!("stopped"));
        ExitCode::SUCCESS
    })
}

/// 0 if the local server answers `/healthz` with 200 within 2 s, 1 if not,
/// 2 on a bad setting (PORT=0 included: it names no port to check).
fn check_health() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) if config.port == 0 => {
            log::error(format_args!(
                "healthcheck: PORT is 0 (a random port), so there is no port to check"
            ));
            return ExitCode::from(USAGE);
        }
        Ok(config) => config,
        Err(err) => {
            log::error(format_args!("healthcheck: {err}"));
            return ExitCode::from(USAGE);
        }
    };
    match healthcheck::check(healthcheck::target(&config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::error(format_args!("healthcheck: {err}"));
            ExitCode::from(FAILURE)
        }
    }
}

fn usage() -> String {
    let mut text = format!(
        "moscow-time {}: shows the current time in Moscow over HTTP.\n\n\
         Usage:\n  moscow-time               serve until SIGTERM or SIGINT\n  \
         moscow-time healthcheck   exit 0 if the local server answers /healthz with 200 within 2 s, else 1\n  \
         moscow-time --version     print the version (also -V)\n  \
         moscow-time --help        print this help (also -h)\n\n\
         Environment:\n",
        env!("CARGO_PKG_VERSION")
    );
    for s in &SETTINGS {
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "  {:<24}{} (default {})",
            s.name, s.meaning, s.default
        );
    }
    text += "\nExit codes: 0 success, 1 failure (address in use, unhealthy), 2 usage or configuration error.\n\
             With LOG_FORMAT=json every line the server and the health check log is one JSON object.\n";
    text
}
