"""Which checkpoint a restarted run resumes from. The Trainer writes `checkpoint-<step>/` file by file, so a
kill -9 can leave one half-written; a marker written last (after the Trainer is done with the folder) tells
complete ones apart, and incomplete ones are deleted (they cannot be trusted). A run whose last complete
checkpoint is its final step (killed before adapter/ was written, or run again) is not resumed but finished
from that checkpoint: the Trainer checks max_steps only after a step, so resuming there trains one step too
many."""
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from core.config import ConfigError
from core.jsonio import write_atomic

COMPLETE_MARKER = "CHECKPOINT_COMPLETE"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")


def checkpoint_step(folder: Path) -> int:
    return int(_CHECKPOINT.match(folder.name).group(1))


def last_complete(checkpoints_dir: Path, discard_incomplete: bool = True) -> Path | None:
    """The newest checkpoint with its marker; folders without one are deleted (they cannot be trusted)."""
    if not checkpoints_dir.is_dir():
        return None
    found = sorted((p for p in checkpoints_dir.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)),
                   key=checkpoint_step)
    complete = [p for p in found if (p / COMPLETE_MARKER).is_file()]
    for folder in found:
        if folder not in complete and discard_incomplete:
            print(f"skipping incomplete checkpoint {folder} (no {COMPLETE_MARKER}; interrupted while saving)")
            shutil.rmtree(folder)
    return complete[-1] if complete else None


class MarkComplete(TrainerCallback):
    """Writes the marker once the Trainer has finished writing a checkpoint (on_save runs after the save)."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                write_atomic(folder / COMPLETE_MARKER, f"{state.global_step}\n")


def _state(checkpoint: Path):
    from transformers import TrainerState

    return TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))


def ends_the_run(checkpoint: Path, max_steps: int | None) -> bool:
    """Whether `checkpoint` is the run's final step: max_steps, or when that is null (epochs) the limit the
    Trainer worked out, kept in the checkpoint's state. A checkpoint past it (max_steps lowered since) is refused:
    that run trained further, and no step of it is the adapter of max_steps steps that was asked for."""
    step, limit = checkpoint_step(checkpoint), max_steps if max_steps is not None else _state(checkpoint).max_steps
    if step > limit:
        raise ConfigError(f"{checkpoint} is past max_steps={limit}: this run has already trained further; "
                          f"choose another RUN= for a shorter run")
    return step == limit


def finish_from(trainer, checkpoint: Path) -> None:
    """Leave `trainer` as train() would have ended a run whose final step is `checkpoint`: its state (log
    history, best step) and, as load_best_model_at_end does, the best step's adapter if that checkpoint still
    exists, else the final one's (loaded the way the Trainer loads a PEFT checkpoint on resume)."""
    trainer.state = _state(checkpoint)
    # The saved flags are the saving process's; in a multi-process run each process has its own.
    trainer.state.is_local_process_zero = trainer.is_local_process_zero()
    trainer.state.is_world_process_zero = trainer.is_world_process_zero()
    best = trainer.state.best_model_checkpoint if trainer.args.load_best_model_at_end else None
    chosen = Path(best) if best and Path(best).is_dir() else checkpoint
    trainer.model.load_adapter(str(chosen), "default", is_trainable=True)
