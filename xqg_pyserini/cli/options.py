"""Options built from where their defaults live: a config dataclass's fields (default and help) or a
function's signature. An option made here remembers its source (``action.default_from``), so a test
can check that the command line and the Python API agree. Also the value checks argparse applies
before anything runs (a bad value is a one-line usage error, exit status 2).
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect

from xqg_pyserini.data.languages import LANGUAGE_NAMES


def defaults(source) -> dict:
    """Field name -> default of a dataclass, or parameter name -> default of a function."""
    if dataclasses.is_dataclass(source):
        out = {}
        for f in dataclasses.fields(source):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out
    return {name: p.default for name, p in inspect.signature(source).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _help(source, name: str) -> str:
    if dataclasses.is_dataclass(source):
        return next((f.metadata.get("help", "") for f in dataclasses.fields(source) if f.name == name), "")
    return ""


def option(p, flag: str, source, name: str | None = None, help: str | None = None, aliases: tuple = (), **kw):
    """``p.add_argument(flag, ...)`` whose default (and, unless given, help) come from ``source``."""
    name = name or flag.lstrip("-").replace("-", "_")
    default = defaults(source)[name]
    text = _help(source, name) if help is None else help
    if default not in (None, False) and kw.get("action") not in ("store_true", "store_false"):
        text = f"{text} (default: %(default)s)" if text else "default: %(default)s"
    action = p.add_argument(flag, *aliases, dest=kw.pop("dest", name), default=default, help=text, **kw)
    action.default_from = (source, name)
    return action


def _at_least(low, kind, what: str):
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {text}")
        return value

    check.__name__ = what
    return check


positive_int = _at_least(1, int, "a whole number")
count = _at_least(0, int, "a whole number")
positive_float = _at_least(1e-12, float, "a number")
non_negative_float = _at_least(0.0, float, "a number")


def fraction(text: str) -> float:
    """A number in [0, 1] (a fusion or interpolation weight, a rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def language(text: str) -> str:
    """A language code the generator can name in its prompt."""
    if text not in LANGUAGE_NAMES:
        raise argparse.ArgumentTypeError(f"unknown language code {text!r}; known: {' '.join(sorted(LANGUAGE_NAMES))}")
    return text


CORPUS_HELP = ("Pyserini JsonCollection: a .jsonl file (that file only) or a directory (every .jsonl/.json file "
               "directly in it); each line an object with id, and contents or title + text")


def overwrite_option(p, what: str) -> None:
    """``--overwrite``: replace an earlier output of the same command (never anything else)."""
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace --out if it is an earlier {what} written by this command (anything else at --out is "
                        "refused, never deleted)")


def allow_incomplete_option(p) -> None:
    p.add_argument("--allow-incomplete", action="store_true",
                   help="use a generated-queries file whose generation has not finished (its .meta.json says "
                        "complete: false)")


def encoder_options(p) -> None:
    """The dense encoder's options, defaults from :class:`~xqg_pyserini.encode.encoders.TransformerEncoder`."""
    from xqg_pyserini.encode.encoders import TransformerEncoder

    g = p.add_argument_group("dense encoder")
    option(g, "--encoder", TransformerEncoder, "model", dest="encoder",
           help="Hugging Face checkpoint (name or directory); multilingual-e5-small is built offline")
    g.add_argument("--preset", choices=["e5", "dpr"], default=None, help="settings family (default: from the model)")
    g.add_argument("--pooling", choices=["cls", "mean"], default=None)
    g.add_argument("--l2-norm", action=argparse.BooleanOptionalAction, default=None)
    option(g, "--batch-size", TransformerEncoder, "batch_size", help="texts per forward pass", type=positive_int)


def make_encoder(args):
    from xqg_pyserini.encode.encoders import TransformerEncoder

    return TransformerEncoder(args.encoder, args.preset, pooling=args.pooling, l2_norm=args.l2_norm,
                              batch_size=args.batch_size)


def ray_options(p, what: str, source) -> None:
    """Options of a distributed run on Ray (the optional extra ``xqg-pyserini[ray]``), defaults from ``source``."""
    g = p.add_argument_group("distributed (Ray; pip install 'xqg-pyserini[ray]')")
    g.add_argument("--ray", action="store_true",
                   help=f"{what} on Ray: corpus parts read as a Ray Dataset, one model per actor; --out is then a "
                        "directory of parts, and a rerun resumes it")
    g.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="Ray cluster to join (auto: the running one); default: start a local one")
    option(g, "--actors", source, type=positive_int,
           help="actors (models) in the pool (default: one per GPU, else as many as the CPUs allow)")
    option(g, "--cpus-per-actor", source, type=positive_float,
           help="CPUs each actor asks for when the cluster has no GPUs (also its torch threads)")
    option(g, "--part-bytes", source, type=positive_int, help="corpus bytes per part, the unit of work and resume")


def index_kind_options(p) -> None:
    """The FAISS index kind of an output: an index-factory string, its training sample, its search settings."""
    from xqg_pyserini.index.factory import DEFAULT_FACTORY, DEFAULT_NPROBE

    g = p.add_argument_group("index kind")
    g.add_argument("--index-factory", default=DEFAULT_FACTORY, metavar="STRING",
                   help="FAISS index-factory string, e.g. Flat (default), IVF4096,PQ48, HNSW32; other kinds than Flat "
                        "are trained on a sample and filled block by block (bounded memory)")
    g.add_argument("--train-size", type=positive_int, default=None,
                   help="vectors sampled to train the index (default: 40 per IVF list, at least 10000)")
    g.add_argument("--search-params", default=None, metavar="PARAMS",
                   help=f"search settings stored in the index for Pyserini's FaissSearcher, e.g. nprobe=64 or "
                        f"efSearch=128 (default for IVF: nprobe={DEFAULT_NPROBE})")
