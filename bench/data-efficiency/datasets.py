#!/usr/bin/python3
"""Builds the labelled and unlabelled sets the data-efficiency benchmark and the demo use, from Debian packages.

  wordnet <out> [--train-per-class N] [--test-per-class N] [--unlabeled N]
      labeled/wordnet-lexnames/{train,test}.jsonl + labels.txt: noun glosses labelled by lexicographer file, the
      8 largest noun lexnames; unlabeled/wordnet-glosses/glosses.txt: every other WordNet gloss (all parts of
      speech, test glosses excluded so pretraining never sees the test texts), or N of them.
  fmnist <out> [--train N] [--test N]
      labeled/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz + labels.txt: a class-balanced
      subset (all of it without --train/--test).
  fmnist <out> --train N --test N --unlabeled M
      also unlabeled/fashion-mnist/images-idx3-ubyte.gz: M training images outside the labelled subset, images
      only (no labels file is written: this is the unlabelled pool for pretraining).

Deterministic: fixed seeds, sorted inputs. Needs wordnet-base and dataset-fashion-mnist (apt).
"""
import argparse
import gzip
import json
import os
import random
import struct

WORDNET = "/usr/share/wordnet"
FMNIST = "/usr/share/datasets/fashion-mnist"
LEXNAMES = {
    3: "noun.Tops", 4: "noun.act", 5: "noun.animal", 6: "noun.artifact", 7: "noun.attribute", 8: "noun.body",
    9: "noun.cognition", 10: "noun.communication", 11: "noun.event", 12: "noun.feeling", 13: "noun.food",
    14: "noun.group", 15: "noun.location", 16: "noun.motive", 17: "noun.object", 18: "noun.person",
    19: "noun.phenomenon", 20: "noun.plant", 21: "noun.possession", 22: "noun.process", 23: "noun.quantity",
    24: "noun.relation", 25: "noun.shape", 26: "noun.state", 27: "noun.substance", 28: "noun.time",
}
FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def glosses(part):
    """(lex_filenum, gloss) per synset of data.{part}, in file order."""
    with open(os.path.join(WORDNET, f"data.{part}"), encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  ") or " | " not in line:
                continue  # licence header
            fields = line.split(" ", 2)
            gloss = line.split(" | ", 1)[1].strip()
            if gloss:
                yield int(fields[1]), gloss


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for text, label in rows:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


def wordnet(out, train_per_class, test_per_class, unlabeled):
    nouns = list(glosses("noun"))
    counts = {}
    for lex, _ in nouns:
        counts[lex] = counts.get(lex, 0) + 1
    classes = sorted(sorted(counts, key=lambda k: (-counts[k], k))[:8], key=lambda k: LEXNAMES[k])
    rng = random.Random(20261128)
    by_class = {c: sorted({g for lex, g in nouns if lex == c}) for c in classes}
    train, test, held = [], [], set()
    for c in classes:
        items = by_class[c][:]
        rng.shuffle(items)
        test += [(g, LEXNAMES[c]) for g in items[:test_per_class]]
        pool = items[test_per_class:]
        train += [(g, LEXNAMES[c]) for g in (pool if train_per_class is None else pool[:train_per_class])]
        held.update(items[:test_per_class])
    labeled = os.path.join(out, "labeled", "wordnet-lexnames")
    os.makedirs(labeled, exist_ok=True)
    rng.shuffle(train)
    rng.shuffle(test)
    write_jsonl(os.path.join(labeled, "train.jsonl"), train)
    write_jsonl(os.path.join(labeled, "test.jsonl"), test)
    with open(os.path.join(labeled, "labels.txt"), "w") as f:
        f.write("\n".join(LEXNAMES[c] for c in classes) + "\n")

    # Unlabelled corpus: every gloss except the labelled test glosses (and, in a sample, except the labelled ones).
    used = held | {g for g, _ in train} if unlabeled is not None else held
    corpus = sorted({g for part in ("noun", "verb", "adj", "adv") for _, g in glosses(part)} - used)
    if unlabeled is not None:
        rng.shuffle(corpus)
        corpus = sorted(corpus[:unlabeled])
    unl = os.path.join(out, "unlabeled", "wordnet-glosses")
    os.makedirs(unl, exist_ok=True)
    with open(os.path.join(unl, "glosses.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(corpus) + "\n")
    print(f"wordnet: {len(train)} train, {len(test)} test glosses in {len(classes)} classes; {len(corpus)} unlabelled glosses")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        size = rows * cols
        return [data[16 + i * size:16 + (i + 1) * size] for i in range(n)], (rows, cols)
    return list(data[8:8 + n]), None


def write_idx(images_path, labels_path, images, labels, shape):
    with gzip.GzipFile(images_path, "wb", mtime=0) as f:
        f.write(struct.pack(">IIII", 0x803, len(images), shape[0], shape[1]))
        for image in images:
            f.write(image)
    with gzip.GzipFile(labels_path, "wb", mtime=0) as f:
        f.write(struct.pack(">II", 0x801, len(labels)))
        f.write(bytes(labels))


def balanced(labels, count, seed):
    """Indices of a class-balanced subset of size count (sorted), or all."""
    if count is None or count >= len(labels):
        return list(range(len(labels)))
    rng = random.Random(seed)
    by_class = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for members in by_class.values():
        rng.shuffle(members)
    chosen, k = [], 0
    while len(chosen) < count:
        for c in sorted(by_class):
            if k < len(by_class[c]) and len(chosen) < count:
                chosen.append(by_class[c][k])
        k += 1
    return sorted(chosen)


def write_images(images_path, images, shape):
    with gzip.GzipFile(images_path, "wb", mtime=0) as f:
        f.write(struct.pack(">IIII", 0x803, len(images), shape[0], shape[1]))
        for image in images:
            f.write(image)


def fmnist(out, train, test, unlabeled=None):
    labeled = os.path.join(out, "labeled", "fashion-mnist")
    os.makedirs(labeled, exist_ok=True)
    for split, source, count, seed in (("train", "train", train, 1), ("t10k", "t10k", test, 2)):
        images, shape = read_idx(os.path.join(FMNIST, f"{source}-images-idx3-ubyte.gz"))
        labels, _ = read_idx(os.path.join(FMNIST, f"{source}-labels-idx1-ubyte.gz"))
        keep = balanced(labels, count, seed)
        write_idx(os.path.join(labeled, f"{split}-images-idx3-ubyte.gz"), os.path.join(labeled, f"{split}-labels-idx1-ubyte.gz"),
                  [images[i] for i in keep], [labels[i] for i in keep], shape)
        print(f"fashion-mnist {split}: {len(keep)} images")
        if split == "train" and unlabeled:
            # A uniform random draw (no labels consulted) from the training images the labelled subset left out.
            taken = set(keep)
            rest = [i for i in range(len(images)) if i not in taken]
            pool = sorted(random.Random(3).sample(rest, unlabeled))
            folder = os.path.join(out, "unlabeled", "fashion-mnist")
            os.makedirs(folder, exist_ok=True)
            write_images(os.path.join(folder, "images-idx3-ubyte.gz"), [images[i] for i in pool], shape)
            print(f"fashion-mnist unlabeled: {len(pool)} images")
    with open(os.path.join(labeled, "labels.txt"), "w") as f:
        f.write("\n".join(FMNIST_CLASSES) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wordnet")
    w.add_argument("out")
    w.add_argument("--train-per-class", type=int)
    w.add_argument("--test-per-class", type=int, default=250)
    w.add_argument("--unlabeled", type=int)
    f = sub.add_parser("fmnist")
    f.add_argument("out")
    f.add_argument("--train", type=int)
    f.add_argument("--test", type=int)
    f.add_argument("--unlabeled", type=int)
    args = parser.parse_args()
    if args.command == "wordnet":
        wordnet(args.out, args.train_per_class, args.test_per_class, args.unlabeled)
    else:
        fmnist(args.out, args.train, args.test, args.unlabeled)


if __name__ == "__main__":
    main()
