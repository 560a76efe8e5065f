"""One training run with sentence-transformers' ``SentenceTransformerTrainer``: seeded, checkpointed, resumable.

The trainer (transformers' Trainer underneath) writes a checkpoint at the end of every epoch into
``<run>/checkpoints/checkpoint-<step>`` (the model, the optimizer, the scheduler and the random
states; ``trainer_state.json`` last, so a checkpoint without it is incomplete and never resumed
from). A rerun resumes from the last complete checkpoint, with the same seed, so it ends where an
uninterrupted run ends. The trainer's own progress bar counts steps; it is replaced by a bar of the
texts seen (texts/s and the time left). On a GPU, bf16 (or fp16) autocast is on.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

CHECKPOINTS = "checkpoints"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(run_dir: Path) -> Path | None:
    """The last complete checkpoint of a run (one with ``trainer_state.json``), or None."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return None
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()
             and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def train(model: SentenceTransformer, dataset: Dataset, loss: Any, run_dir: Path, *, epochs: int, batch_size: int,
          learning_rate: float, seed: int, progress: bool | None = None) -> SentenceTransformer:
    """Train ``model`` on ``dataset`` with ``loss`` for ``epochs``, resuming ``run_dir``'s last checkpoint."""
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import PrinterCallback, TrainerCallback, set_seed

    set_seed(seed)  # the head of the loss and anything made before the trainer
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(run_dir / CHECKPOINTS),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=0.1,  # a float: the share of the steps
        seed=seed,
        data_seed=seed,
        save_strategy="epoch",
        save_total_limit=2,
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=bf16,
        fp16=cuda and not bf16,
        dataloader_num_workers=0,
    )
    drop_incomplete_checkpoints(run_dir)
    resume = last_checkpoint(run_dir)
    model.model_card_data.generate_widget_examples = False  # easynlu writes its own card
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss,
                                         callbacks=[_texts_bar(TrainerCallback, len(dataset), batch_size, progress)])
    trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict; the bar says enough
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return model


def drop_incomplete_checkpoints(run_dir: Path) -> None:
    """Delete checkpoint folders a killed run left half-written (no ``trainer_state.json``)."""
    folder = run_dir / CHECKPOINTS
    for path in folder.iterdir() if folder.is_dir() else ():
        if _CHECKPOINT.match(path.name) and not (path / "trainer_state.json").is_file():
            shutil.rmtree(path, ignore_errors=True)


def _texts_bar(base: type, n_texts: int, batch_size: int, progress: bool | None) -> Any:
    """A trainer callback that draws a tqdm bar of the texts trained on: texts/s and the time left."""

    class TextsBar(base):
        """The bar: total = texts x epochs, advanced by one batch per optimizer step."""

        bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress is False:
                return
            from ..progress import bar_class

            total = n_texts * int(args.num_train_epochs)
            done = min(total, state.global_step * batch_size)
            self.bar = bar_class()(total=total, initial=done, unit="text", desc="training",
                                   delay=0 if progress else 2, leave=False, dynamic_ncols=True)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.update(min(batch_size, self.bar.total - self.bar.n))
                self.bar.set_postfix(epoch=f"{state.epoch or 0:.2f}", refresh=False)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.close()

    return TextsBar()


def save(model: SentenceTransformer, target: Path) -> None:
    """Write the trained model as a sentence-transformers directory at ``target`` (atomically)."""
    from .. import files

    if target.exists():
        shutil.rmtree(target)
    with files.writing_dir(target) as tmp:
        model.save(str(tmp))
        (tmp / "README.md").unlink(missing_ok=True)  # sentence-transformers' own card; ours is written after
    os.utime(target)
