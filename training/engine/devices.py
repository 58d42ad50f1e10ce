"""Which device a training run uses, under `accelerate launch` or alone."""

import os


def accelerator_for(device: str = "", **kwargs):
    """The ``accelerate.Accelerator`` of a run on ``device`` ("" = what accelerate finds).

    Launched as several processes on a machine without a GPU, accelerate groups them (gloo on
    the CPU) only when told to use the CPU; otherwise each process would train alone, silently,
    on its own share of nothing. So a multi-process launch with no CUDA device means the CPU.
    """
    import torch
    from accelerate import Accelerator

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cpu = device == "cpu" or (launched and not torch.cuda.is_available())
    return Accelerator(cpu=cpu, **kwargs)


def fused_ok(params) -> bool:
    """torch's fused AdamW (one kernel for all parameters instead of a Python loop over them)
    takes floating-point parameters on the CPU or CUDA."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def main_process_decides(accelerator, flag: bool) -> bool:
    """The main process's `flag`, on every process.

    For decisions that read the wall clock (is a save due?): processes could disagree by a
    millisecond, and one that saves then waits forever at `wait_for_everyone` for one that
    did not.
    """
    if accelerator.num_processes == 1:
        return flag
    from accelerate.utils import broadcast_object_list

    return bool(broadcast_object_list([flag], from_process=0)[0])
