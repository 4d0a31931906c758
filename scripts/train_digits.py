"""Trains the small BEiT digit classifier that ships in `models/beit-digits`, writes the sample images
in `samples/digits` and the PyTorch reference outputs in `__test__/fixtures/digits-reference.json`.
From the repository root:

    python scripts/train_digits.py

Needs Python 3.10+ with torch (2.15), transformers (5.24), scikit-learn (1.9; it bundles the data, so
nothing is downloaded), safetensors (0.8), Pillow (13) and numpy (2.4); the versions in brackets are
the ones the shipped files were made with. No GPU and no network: it runs on one CPU core in about
ten minutes. Other versions train fine but need not reproduce the weights bit for bit.

`--epochs N` and `--out-dir DIR` exist for experiments; the shipped files come from the defaults.
"""

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import sklearn
import torch
import transformers
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import BeitConfig, BeitForImageClassification

try:
    # transformers 5 makes `BeitImageProcessor` the torchvision backend (falling back to this one,
    # with a warning, when torchvision is missing). We want the Pillow backend whatever is installed:
    # beit-node ports Pillow's resizing exactly, so this is the pipeline its users get. Both backends
    # save the same `preprocessor_config.json` (image_processor_type "BeitImageProcessor").
    from transformers import BeitImageProcessorPil as BeitImageProcessor
except ImportError:  # transformers 4: BeitImageProcessor is the Pillow/numpy one
    from transformers import BeitImageProcessor

REPO = Path(__file__).resolve().parent.parent
COMMAND = "python scripts/train_digits.py"
SEED = 0
EPOCHS = 100
BATCH_SIZE = 64
LR = 2e-3  # 1e-3 had not converged after 100 epochs; with warmup 2e-3 is stable
WEIGHT_DECAY = 0.05
WARMUP_EPOCHS = 5
SIDE = 32  # sklearn's digits are 8x8; upscaled 4x so a 4x4 patch is one original pixel

LABELS = [str(d) for d in range(10)]


def seed_everything(seed):
    # Every random draw below comes from these generators (model init, drop path, shuffling) or from
    # the explicit `random.Random` passed to `augment`, so a rerun gives the same weights.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def to_image(pixels):
    """An 8x8 digit (values 0..16) as the 32x32 RGB image a user would hand to the CLI."""
    grey = np.round(pixels.reshape(8, 8) * 255.0 / 16.0).astype(np.uint8)
    return Image.fromarray(grey).resize((SIDE, SIDE), Image.Resampling.NEAREST).convert("RGB")


def augment(img, rng):
    """Half the time the image as is; otherwise a random small shift, and half of those times also a
    small rotation and scale.

    Handwriting varies in position, slant and size, but flips or large rotations would turn one digit
    into another (6/9, 2/5), so the changes stay small. The background is black, as in the data.
    Unchanged images matter: they are the only ones whose 4x4 patches each hold one flat original
    pixel, as every held-out image and sample does; with augmentation alone the model saw them too
    rarely and scored much worse on clean images than on augmented ones.
    """
    if rng.random() < 0.5:
        return img
    if rng.random() < 0.5:
        angle = math.radians(rng.uniform(-10.0, 10.0))
        scale = rng.uniform(0.9, 1.1)
        # PIL's AFFINE maps output coordinates to input ones, so give the inverse of
        # "rotate by angle and scale about the centre".
        c = SIDE / 2.0  # Pillow samples at pixel centres (x + 0.5), so this is the image centre
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        matrix = (cos, sin, c - cos * c - sin * c, -sin, cos, c + sin * c - cos * c)
        img = img.transform(img.size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    dx, dy = rng.randint(-2, 2), rng.randint(-2, 2)
    shifted = Image.new("RGB", img.size)
    shifted.paste(img, (dx, dy))  # paste, not ImageChops.offset: that wraps pixels round the edge
    return shifted


def make_model():
    config = BeitConfig(
        image_size=SIDE,
        patch_size=4,
        num_channels=3,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        use_relative_position_bias=True,  # one table per layer, as in fine-tuned BEiT checkpoints
        # Both tables start at zero, so at first the model sees an unordered bag of patches; with
        # relative position bias alone it took ~100 epochs to learn where strokes are (65% held-out
        # accuracy). Absolute position embeddings as well (as BEiT allows) learn that in a few epochs.
        use_absolute_position_embeddings=True,
        use_mean_pooling=True,
        layer_scale_init_value=0.1,
        hidden_dropout_prob=0.0,
        drop_path_rate=0.1,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    return BeitForImageClassification(config)


def make_processor():
    return BeitImageProcessor(
        do_resize=True,
        size={"height": SIDE, "width": SIDE},
        resample=PIL.Image.BICUBIC,
        do_center_crop=False,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_reduce_labels=False,
    )


def make_optimizer(model, steps, warmup):
    # Standard ViT/BEiT practice: no weight decay on biases, norms, layer scales and position tables,
    # which only shift or scale activations; decaying them pulls the model towards a worse fit.
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        skip = param.ndim <= 1 or name.endswith(("cls_token", "relative_position_bias_table"))
        (no_decay if skip else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}], lr=LR
    )
    def factor(step):  # linear warmup, then cosine down to 0
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def predict(model, processor, images):
    model.eval()
    logits = []
    for start in range(0, len(images), 256):
        batch = processor(images=images[start : start + 256], return_tensors="pt")
        logits.append(model(pixel_values=batch["pixel_values"]).logits)
    return torch.cat(logits)


def train(model, processor, images, labels, epochs):
    rng = random.Random(SEED)
    shuffle = torch.Generator().manual_seed(SEED)
    steps_per_epoch = math.ceil(len(images) / BATCH_SIZE)
    optimizer, scheduler = make_optimizer(model, epochs * steps_per_epoch, WARMUP_EPOCHS * steps_per_epoch)
    targets = torch.tensor(labels)
    for epoch in range(epochs):
        model.train()  # turns drop path on
        total, seen = 0.0, 0
        for batch_ids in torch.randperm(len(images), generator=shuffle).split(BATCH_SIZE):
            # Augment the PIL images and only then run the processor, exactly as at inference.
            batch = [augment(images[i], rng) for i in batch_ids.tolist()]
            pixel_values = processor(images=batch, return_tensors="pt")["pixel_values"]
            loss = model(pixel_values=pixel_values, labels=targets[batch_ids]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch_ids)
            seen += len(batch_ids)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            print(f"epoch {epoch + 1:3d}/{epochs}  loss {total / seen:.4f}  lr {scheduler.get_last_lr()[0]:.2e}")
    model.eval()


def model_card(params, epochs, accuracy, correct, total, n_train):
    return f"""# beit-digits

A tiny BEiT image classifier (`BeitForImageClassification`, {params:,} parameters) for handwritten
digits 0-9, trained from scratch so that beit-node has a real model that works offline. It is a
demonstration and test model, not a production digit recogniser.

- **Architecture**: BEiT, 32x32 input, 4x4 patches (64 tokens + CLS), hidden size 64, 4 layers,
  4 heads, MLP 128, absolute position embeddings and a relative position bias table per layer,
  layer scale, mean pooling.
- **Data**: scikit-learn's bundled `load_digits` (1797 8x8 images, grey levels 0-16), a copy of the
  test set of the UCI "Optical Recognition of Handwritten Digits" dataset (E. Alpaydin, C. Kaynak, 1998).
  Split with `train_test_split(test_size=0.2, stratify=y, random_state=0)`: {n_train} training and
  {total} held-out images. Each image is upscaled 4x with NEAREST to 32x32 RGB, grey level
  round(v * 255 / 16).
- **Training**: {epochs} epochs, batch {BATCH_SIZE}, AdamW (lr {LR:g}, weight decay {WEIGHT_DECAY:g}),
  {WARMUP_EPOCHS} epochs of warmup then cosine decay, drop path 0.1, seed {SEED}. Half the training
  images are augmented: shifted by up to 2 pixels, and half of those also rotated by up to 10 degrees
  and scaled by 0.9-1.1.
  Made with transformers {transformers.__version__} and torch {torch.__version__} on the CPU:

      {COMMAND}

  (from the beit-node repository root; see the script for details).
- **Held-out accuracy**: {accuracy * 100:.2f}% ({correct}/{total}).

## Input

A white (light) digit on a black background, centred and filling most of the frame, like the samples
in `samples/digits/`. Any size and any format beit-node reads: the processor resizes to 32x32
(bicubic), rescales to [0, 1] and normalizes with mean 0.5 and std 0.5. Black-on-white images
should be inverted first. Labels are "0" to "9".

## License

The weights are derived from the UCI Optical Recognition of Handwritten Digits data set
(https://archive.ics.uci.edu/dataset/80), licensed under CC BY 4.0
(https://creativecommons.org/licenses/by/4.0/); as a derived work they are shared under the same
terms, crediting E. Alpaydin and C. Kaynak.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out-dir", type=Path, default=REPO, help="where models/, samples/ and __test__/ go")
    args = parser.parse_args()
    # One thread leaves a core free, and a fixed thread count keeps float sums in the same order.
    torch.set_num_threads(1)
    seed_everything(SEED)

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    train_images = [to_image(x) for x in x_train]
    test_images = [to_image(x) for x in x_test]
    y_train, y_test = [int(y) for y in y_train], [int(y) for y in y_test]
    print(f"{len(train_images)} training, {len(test_images)} held-out images")

    model = make_model()
    processor = make_processor()
    started = time.perf_counter()
    train(model, processor, train_images, y_train, args.epochs)
    print(f"trained in {time.perf_counter() - started:.0f} s")

    model_dir = args.out_dir / "models" / "beit-digits"
    model.save_pretrained(model_dir, safe_serialization=True)
    processor.save_pretrained(model_dir)

    # Everything below uses the saved folder, i.e. what ships, not the in-memory model.
    model = BeitForImageClassification.from_pretrained(model_dir, dtype=torch.float32)
    processor = BeitImageProcessor.from_pretrained(model_dir)
    model.eval()
    predicted = predict(model, processor, test_images).argmax(-1).tolist()
    correct = sum(p == y for p, y in zip(predicted, y_test))
    accuracy = correct / len(y_test)
    print(f"held-out accuracy {accuracy:.4f} ({correct}/{len(y_test)})")

    # The first held-out image of each class, in held-out order, so the samples are not hand-picked.
    sample_dir = args.out_dir / "samples" / "digits"
    sample_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for label in range(10):
        index = y_test.index(label)
        rel = f"samples/digits/digit-{label}.png"
        test_images[index].save(args.out_dir / rel)
        samples.append((rel, label))

    # Reference outputs from the PNG files as read back, the way beit-node's tests will read them.
    entries = []
    for rel, label in samples:
        image = Image.open(args.out_dir / rel).convert("RGB")
        logits = predict(model, processor, [image])[0]
        entries.append(
            {
                "file": rel,
                "label": str(label),
                "logits": [float(v) for v in logits.tolist()],
                "predicted": model.config.id2label[int(logits.argmax())],
            }
        )
        print(f"{rel}: true {label}, predicted {entries[-1]['predicted']}")

    reference = {
        "model": "models/beit-digits",
        "command": COMMAND,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "num_train_images": len(y_train),
        "num_heldout_images": len(y_test),
        "heldout_accuracy": accuracy,
        "heldout_correct": correct,
        "heldout_total": len(y_test),
        "samples": entries,
    }
    fixture = args.out_dir / "__test__" / "fixtures" / "digits-reference.json"
    fixture.parent.mkdir(parents=True, exist_ok=True)
    # json writes floats with repr, the shortest text that reads back as the same double, so the
    # float32 logits survive exactly.
    fixture.write_text(json.dumps(reference, indent=2) + "\n")

    params = sum(p.numel() for p in model.parameters())
    card = model_card(params, args.epochs, accuracy, correct, len(y_test), len(y_train))
    (model_dir / "README.md").write_text(card)
    size = (model_dir / "model.safetensors").stat().st_size
    print(f"model.safetensors: {size} bytes; python {sys.version.split()[0]}, sklearn {sklearn.__version__}")


if __name__ == "__main__":
    main()
