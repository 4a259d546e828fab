//! The `fauna-sim` binary: the Fauna Logs API simulator's process (crates/fauna-sim), built with
//! the exporter so that its tests, the demo and the benchmarks find it beside the exporter.

fn main() -> std::process::ExitCode {
    fauna_sim::main()
}
