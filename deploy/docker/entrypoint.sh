#!/bin/sh
# Entry point of the Seva Hub image: `seva-entrypoint <seva subcommand> [args...]`.
#
# A Ray driver needs a Ray node (a raylet) on its own machine. So before `seva serve`, when
# RAY_ADDRESS names a cluster's GCS (host:port, e.g. ray-head:6379), this container joins the
# cluster as a node with no CPUs and a small object store (it hosts the hub's driver, not
# work), and `seva serve` then attaches to the same address. A `ray://` address (Ray Client)
# needs no local node and is passed through untouched. Every other subcommand (migrate,
# emulate, verify, ...) runs as is.
set -eu

if [ "${1:-}" = "serve" ] && [ -n "${RAY_ADDRESS:-}" ]; then
  case "$RAY_ADDRESS" in
    ray://*) ;;
    *)
      ray start --address="$RAY_ADDRESS" --num-cpus=0 --object-store-memory=100000000 \
        --disable-usage-stats
      ;;
  esac
fi

exec seva "$@"
