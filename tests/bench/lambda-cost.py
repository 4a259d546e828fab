#!/usr/bin/env python3
"""Lambda GB-seconds per exported GiB at each memory size, from two measured figures.

    lambda-cost.py --copy-cpu SECONDS --verifier-cpu SECONDS [--source TEXT]

- ``--copy-cpu``: CPU seconds (user + sys) the whole copy takes per GiB of log file (``make bench``
  reads it from GNU time around ``fauna-logs-export run``).
- ``--verifier-cpu``: CPU seconds the verifier thread alone takes per GiB (the gunzip, one thread:
  ``crates/verify/examples/verify_throughput.rs --file``).

The model: Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB, up to 6 at 10,240 MB.
The copy has two busy threads, the verifier and the one moving the bytes (download, checksum,
upload), so with ``f`` vCPUs a GiB takes at least ``copy_cpu / f`` seconds, and never less than
either thread's own CPU time (``verifier_cpu`` and ``copy_cpu - verifier_cpu``). GB-seconds are
memory × time. Not in the model: the network (a copy can be slower than its CPU allows), TLS
(the measurement is on loopback, without it), and init. Prints a Markdown table.
"""

from __future__ import annotations

import argparse

ONE_VCPU_MB = 1769
MAX_MB = 10240
MAX_VCPU = 6
# us-east-1 prices per GB-second (requests and the first tier's discounts aside).
PRICE_ARM64 = 0.0000133334
PRICE_X86 = 0.0000166667
SIZES_MB = [512, 1024, 1769, 2048, 2560, 3008, 3538, 4096, 5307, 7076, 10240]


def vcpus(memory_mb: int) -> float:
    return min(memory_mb / ONE_VCPU_MB, MAX_VCPU)


def seconds_per_gib(memory_mb: int, copy_cpu: float, verifier_cpu: float) -> float:
    return max(copy_cpu / vcpus(memory_mb), verifier_cpu, copy_cpu - verifier_cpu)


def table(copy_cpu: float, verifier_cpu: float) -> list[str]:
    # Compared as shown (to 0.1 GB-s): among sizes that cost the same, the largest is fastest.
    best = min(
        SIZES_MB,
        key=lambda m: (round(m / 1024 * seconds_per_gib(m, copy_cpu, verifier_cpu), 1), -m),
    )
    # The cheapest rate holds up to the point where one thread becomes the bound.
    knee = ONE_VCPU_MB * copy_cpu / max(verifier_cpu, copy_cpu - verifier_cpu)
    rows = [
        "| memory MB | vCPUs | s per GiB | GB-s per GiB | $ per 1,000 GiB (arm64) | $ per 1,000 GiB (x86_64) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for m in SIZES_MB:
        t = seconds_per_gib(m, copy_cpu, verifier_cpu)
        gbs = m / 1024 * t
        mark = " ←" if m == best else ""
        rows.append(
            f"| {m:,}{mark} | {vcpus(m):.2f} | {t:.1f} | {gbs:.1f} | "
            f"{gbs * PRICE_ARM64 * 1000:.2f} | {gbs * PRICE_X86 * 1000:.2f} |"
        )
    rows.append("")
    rows.append(
        f"Inputs: the copy takes {copy_cpu:.2f} CPU s per GiB, its verifier thread {verifier_cpu:.2f}. "
        f"Below about {knee:,.0f} MB a GiB costs the same GB-seconds at any memory size "
        f"(the copy is CPU-bound: less memory, proportionally slower); above it, a thread is the "
        f"bound and more memory only costs more. ← marks the cheapest size, the fastest among equals."
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy-cpu", type=float, required=True)
    parser.add_argument("--verifier-cpu", type=float, required=True)
    args = parser.parse_args()
    if not 0 < args.verifier_cpu <= args.copy_cpu:
        raise SystemExit("need 0 < --verifier-cpu <= --copy-cpu")
    print("\n".join(table(args.copy_cpu, args.verifier_cpu)))


if __name__ == "__main__":
    main()
