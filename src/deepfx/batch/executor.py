"""Ray underneath a batch: a local or joined cluster, and a Ray Data actor pool.

Rows (input path + output key, one row per block so one task is one file and a retry redoes
one file) flow through ``map_batches`` into a pool of :class:`_RayWorker` actors; each
actor loads the model once and runs :func:`deepfx.batch.worker.process_one` on its rows by
path. Audio never goes through the object store: only paths in and small JSON records out.

A local Ray (no ``address``) is started for the command and stopped after it: bound to
127.0.0.1, no dashboard, no usage stats, token auth with a fresh token held in the
environment (nothing written to ``~/.ray``), its session files in a temp folder that is
removed afterwards, and a small object store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfx.batch.inputs import Row
from deepfx.batch.manifest import Record
from deepfx.batch.worker import BatchOptions, Worker
from deepfx.errors import UsageError
from deepfx.settings import child_environment, process_environment, ray_address

__all__ = ["RAY_INSTALL_HINT", "Pool", "import_ray", "plan_pool", "ray_session", "run_rows"]

RAY_INSTALL_HINT = "deepfx batch needs Ray: pip install 'deepfx[batch]' (or 'ray[data]')"

#: Object store of a local Ray, in bytes (paths and records only; audio never goes there).
LOCAL_OBJECT_STORE = 96 * 1024 * 1024


def import_ray() -> Any:
    """Import Ray, or raise a :class:`UsageError` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(RAY_INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class Pool:
    """The actor pool: how many actors and what each one reserves."""

    workers: int
    num_cpus: float
    num_gpus: float


def plan_pool(
    *,
    device: str,
    workers: int | None,
    threads: int | None,
    gpus_per_worker: float | None,
    cluster: dict[str, float],
) -> Pool:
    """Resources per actor from the device option and the cluster's resources.

    ``cuda`` reserves ``gpus_per_worker`` (default 1) GPU per actor; ``auto`` does so when
    the cluster has GPUs; ``cpu``/``mps`` reserve none. Each actor reserves ``threads``
    CPUs (default 1). Without ``workers``, the pool fills the cluster.
    """
    cpus = float(threads or 1)
    has_gpu = cluster.get("GPU", 0.0) > 0
    if device == "cuda" or (device == "auto" and has_gpu) or gpus_per_worker:
        gpus = float(gpus_per_worker or 1.0)
        if device == "cuda" and not has_gpu:
            raise UsageError(
                "--device cuda but the Ray cluster has no GPUs; use --device cpu or join a "
                "cluster with GPU nodes (--address)"
            )
    else:
        gpus = 0.0
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if workers is None:
        fit = cluster.get("GPU", 0.0) / gpus if gpus else cluster.get("CPU", 1.0) / cpus
        workers = max(1, int(fit))
    return Pool(workers=workers, num_cpus=cpus, num_gpus=gpus)


_TOKEN: list[str] = []


def local_token() -> str:
    """The auth token of this process's local Rays: one per process, because Ray's driver
    reads its token once and keeps it, so a second local Ray with a new token would be
    refused ("InvalidAuthToken")."""
    if not _TOKEN:
        _TOKEN.append(secrets.token_hex(32))
    return _TOKEN[0]


@contextlib.contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a private local Ray; yield
    the ``ray`` module and shut down (and clean up) on exit."""
    ray = import_ray()
    address = address or ray_address()
    if ray.is_initialized():  # the caller's own session: use it, leave it running
        yield ray
        return
    environ = process_environment()  # set for the local Ray's processes, restored below
    saved = dict(environ)
    tmp: str | None = None
    cluster_flag: bool | None = None
    environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # the driver's C++ log on stderr
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        if address:
            ray.init(
                address=address,
                log_to_driver=False,
                configure_logging=False,
                runtime_env=_runtime_env(),
            )
        else:
            # Ray turns token auth on for a new local cluster; hand it a fresh token in the
            # environment so it never writes one to ~/.ray/auth_token
            if environ.get("RAY_AUTH_MODE", "token") == "token":
                environ.setdefault("RAY_AUTH_TOKEN", local_token())
            # Ray maps the node address to the machine's network address (and its servers
            # then listen on every interface) unless it is told the cluster is local-only:
            # the variable for its children, the constant for this process
            environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
            from ray._private import ray_constants

            cluster_flag = ray_constants.ENABLE_RAY_CLUSTER
            ray_constants.ENABLE_RAY_CLUSTER = False
            # short path: Ray's Unix sockets live under it (107-byte limit)
            tmp = tempfile.mkdtemp(prefix="dfx-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
            environ["RAY_TMPDIR"] = tmp  # Ray's default temp root (it uses tmp/ray)
            os.mkdir(os.path.join(tmp, "ray"))
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE,
                _temp_dir=os.path.join(tmp, "ray"),
                _node_ip_address="127.0.0.1",
                log_to_driver=False,
                configure_logging=False,
                runtime_env=_runtime_env(),
            )
        _quiet_ray_data()
        yield ray
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        if cluster_flag is not None:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = cluster_flag
        environ.clear()
        environ.update(saved)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _runtime_env() -> dict[str, Any]:
    """Environment the workers need to find models installed like the driver's."""
    env = {k: v for k, v in child_environment().items() if k == "DEEPFX_HOME"}
    return {"env_vars": env} if env else {}


def _quiet_ray_data() -> None:
    """Ray Data draws its own progress bars and logs plans; the batch face draws its own."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False


class _RayWorker:
    """The Ray Data UDF: one :class:`Worker` per actor, one row per call."""

    def __init__(self, *, thread_budget: int | None = None, **kwargs: Any):
        if thread_budget and not kwargs.get("threads"):
            # this actor's share of the node (cores // actors): the thread policy's budget,
            # so actors side by side never run more threads in total than there are cores
            from deepfx.settings import process_environment

            process_environment()["DEEPFX_THREAD_BUDGET"] = str(int(thread_budget))
        self.worker = Worker(**kwargs)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        import ray

        ctx = ray.get_runtime_context()
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        out = []
        for path, key in zip(batch["path"], batch["key"], strict=True):
            rec = self.worker.process(
                Row(path=Path(str(path)), key=str(key)), node=ctx.get_node_id(), gpu_ids=gpu_ids
            )
            out.append(rec.to_json())
        return {"record": out}


def run_rows(
    ray: Any,
    rows: list[Row],
    *,
    model: str,
    out_dir: Path | str,
    options: BatchOptions,
    config: str,
    device: str,
    threads: int | None,
    pool: Pool,
) -> Iterator[Record]:
    """Run ``rows`` on the pool; yield each input's record as it finishes."""
    import json

    if not rows:
        return
    items = [{"path": str(r.path), "key": r.key} for r in rows]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    size = max(1, min(pool.workers, len(rows)))
    strategy = ray.data.ActorPoolStrategy(min_size=1, max_size=size, initial_size=size)
    mapped = ds.map_batches(
        _RayWorker,
        batch_size=1,
        batch_format="numpy",
        compute=strategy,
        num_cpus=pool.num_cpus,
        num_gpus=pool.num_gpus,
        fn_constructor_kwargs={
            "model": model,
            "out_dir": str(out_dir),
            "options": options,
            "config": config,
            "device": device,
            "threads": threads,
            "thread_budget": max(1, int(pool.num_cpus)),
        },
    )  # Ray Data's actor pool restarts lost actors and retries their tasks (-1: forever)
    for row in mapped.iter_rows():
        yield Record.from_dict(json.loads(row["record"]))
