//! The floor of the cold-start benchmark (`make bench-init`, tests/bench/cold-init.py): a
//! lambda_runtime binary with an echo handler and nothing else, built with the same release
//! profile as the function. Its time from exec to the first `GET /runtime/invocation/next` is
//! what any Rust Lambda on this runtime pays; the function's init is measured against it.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
