"""One process of a two-process CPU run of the smoke LeNet (for test_multihost.py).

    python -m tests.experiments.multihost_worker PROCESS_ID PORT WORKDIR OUT.npz

Four CPU devices per process, gloo collectives, the coordinator on 127.0.0.1:PORT. The
process trains ``experiments.train_lenet`` (config ``:smoke``) in WORKDIR and saves, outside
it, the parameters it ends with and how many files it wrote through the workdir.
"""

import sys

import jax


def main(process_id: int, port: int, workdir: str, out: str) -> None:
    jax.config.update("jax_num_cpu_devices", 4)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=process_id,
        initialization_timeout=60,
    )
    import numpy as np
    from flax import nnx

    from experiments import _app, train_lenet
    from experiments import workdir as workdir_lib

    writes = []
    original = workdir_lib.atomic_write_bytes

    def counted(path, data):
        writes.append(str(path))
        return original(path, data)

    workdir_lib.atomic_write_bytes = counted
    assert jax.process_count() == 2 and jax.device_count() == 8
    assert jax.local_device_count() == 4
    net = train_lenet.run(_app.load_config("train_lenet", "smoke"), workdir)
    flat = {
        jax.tree_util.keystr(path): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(net.params))
    }
    np.savez(out, writes=np.array(writes, dtype=str), **flat)
    jax.distributed.shutdown()


if __name__ == "__main__":
    pid, port, workdir, out = sys.argv[1:]
    main(int(pid), int(port), workdir, out)
