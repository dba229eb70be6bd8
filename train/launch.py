"""`make train` entry: validate everything cheap first, then train in this process (--nproc 1) or re-run the
recipe under `accelerate launch` in N processes (DDP; NCCL on GPUs, gloo on CPU).

    python -m train.launch --config train/lora_sft.yaml --data data --run outputs/demo --nproc 1 [--set k=v ...]
"""
import os
import socket
import subprocess
import sys

from core.config import ConfigError
from core.model import ModelNotFound
from train import sft
from train.data import DataError


def free_port() -> int:
    # Binding a local port opens no connection; the rendezvous of the N processes needs one that is free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_command(nproc: int, recipe_args: list[str], cpu: bool) -> list[str]:
    """`accelerate launch` with everything on the command line, so no ~/.cache/huggingface/accelerate config
    file changes what runs. DDP across processes; on CPU (no CUDA) each process gets the gloo backend."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(nproc),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port())]
    if cpu:
        command += ["--num_cpu_threads_per_process", str(max(1, (os.cpu_count() or 1) // nproc))]
    return command + ["-m", "train.sft", *recipe_args]


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    nproc = 1
    if "--nproc" in argv:
        at = argv.index("--nproc")
        nproc, argv = int(argv[at + 1]), argv[:at] + argv[at + 2:]
    if nproc < 1:
        sys.exit("error: --nproc must be at least 1")
    args = sft.parse_args(argv)
    try:
        cfg, model_dir = sft.prepare(args)  # config, model folder and data manifest: fail before N processes start
        if nproc == 1:
            sft.train(cfg, model_dir, args)
            return
    except (ConfigError, DataError, ModelNotFound) as exc:
        sys.exit(f"error: {exc}")
    import torch

    cpu = not torch.cuda.is_available()
    env = dict(os.environ, **({"ACCELERATE_USE_CPU": "true", "CUDA_VISIBLE_DEVICES": ""} if cpu else {}))
    sys.exit(subprocess.run(accelerate_command(nproc, argv, cpu), env=env).returncode)


if __name__ == "__main__":
    main()
