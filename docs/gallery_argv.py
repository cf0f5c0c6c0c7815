"""The command lines the documentation gallery runs the examples with.

An example that takes minutes at its defaults runs smaller in the gallery;
``sphinx_gallery_conf["reset_argv"]`` in conf.py points here.
"""

from pathlib import Path

#: Arguments per example script; the others run at their defaults.
ARGV = {
    "char_lstm.py": ["--limit", "300000", "--epochs", "3", "--length", "200"],
    "text_shakespeare.py": ["--epochs", "3"],
}


def reset_argv(gallery_conf, script_vars):
    """Return the arguments after the script name for one example."""
    return list(ARGV.get(Path(script_vars["src_file"]).name, []))
