#!/usr/bin/env python3
"""Writes a man page for a LiftLab executable from its own --help.

    manpage.py PROGRAM NAME SUMMARY OUT [--subcommands] [--see-also PAGE ...]

The page's options are what the program prints, so it cannot drift from
--help. With --subcommands (liftlab-cli) each subcommand listed under
"Subcommands:" gets a section of its own from `PROGRAM SUB --help`, nested
subcommands (bench loss) included. Both help formats are read: Qt's
QCommandLineParser and CLI11. SOURCE_DATE_EPOCH, when set, dates the page.
"""
import argparse
import datetime
import os
import re
import subprocess
import sys


def run_help(program, args):
    out = subprocess.run([program, *args, "--help"], check=True, capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).stdout
    return out.splitlines()


def roff(text):
    """Escapes text for a roff line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def sections(lines):
    """{heading: [lines]} in order; the lines before the first heading under ''."""
    result, current = {"": []}, ""
    for line in lines:
        heading = re.fullmatch(r"(\w[\w ]*):", line)
        if heading:
            current = heading.group(1)
            result[current] = []
        else:
            result[current].append(line)
    return result


def entries(lines):
    """(term, description) pairs of an indented two-column list. A term is
    separated from its description by two or more spaces; a description may
    continue on the following, further indented lines, or start there."""
    items, base = [], None
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        base = indent if base is None else base
        if items and indent > base + 2:
            term, description = items[-1]
            items[-1] = (term, (description + " " + line.strip()).strip())
            continue
        term, _, description = line.strip().partition("  ")
        items.append((term, description.strip()))
    return items


def option_list(lines, out):
    for term, description in entries(lines):
        out.append(".TP")
        out.append("\\fB" + roff(term) + "\\fR")
        out.append(roff(description))


def subcommand_names(lines):
    return [term for term, _ in entries(sections(lines).get("Subcommands", []))]


def subcommand_sections(program, path, out):
    lines = run_help(program, path)
    parts = sections(lines)
    nested = subcommand_names(lines)
    out.append(".SS " + roff(" ".join(path)))
    description = [line for line in parts[""] if line.strip() and not line.startswith("Usage:")]
    usage = [line for line in parts[""] if line.startswith("Usage:")]
    if usage:
        out.append("\\fB" + roff(usage[0][len("Usage: "):]) + "\\fR")
        out.append(".br")
    out.append(roff(" ".join(line.strip() for line in description)))
    # --help and --help-all: every subcommand has them, the page says so once.
    options = [line for line in parts.get("Options", []) if not re.match(r"\s*(-h,--help|--help-all)\b", line)]
    positionals = parts.get("Positionals", [])
    option_list(positionals + options, out)
    for name in nested:
        subcommand_sections(program, path + [name], out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("program")
    parser.add_argument("name")
    parser.add_argument("summary")
    parser.add_argument("out")
    parser.add_argument("--subcommands", action="store_true")
    parser.add_argument("--see-also", nargs="*", default=[])
    a = parser.parse_args()

    lines = run_help(a.program, [])
    version = subprocess.run([a.program, "--version"], check=True, capture_output=True, text=True,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).stdout.split()[-1]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", datetime.datetime.now().timestamp()))
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d")
    parts = sections(lines)
    usage = [line for line in parts[""] if line.startswith("Usage:")]
    description = [line.strip() for line in parts[""] if line.strip() and not line.startswith("Usage:")]

    out = [
        '.\\" Generated from `%s --help` by packaging/manpage.py: edit the program, not this page.' % a.name,
        '.TH %s 1 "%s" "LiftLab %s" "User Commands"' % (a.name.upper(), date, version),
        ".SH NAME",
        "%s \\- %s" % (roff(a.name), roff(a.summary)),
        ".SH SYNOPSIS",
        "\\fB%s\\fR" % roff(re.sub(r"^Usage: \S+", a.name, usage[0])),
        ".SH DESCRIPTION",
        roff(" ".join(description)),
    ]
    for heading, body in parts.items():
        if heading in ("", "Subcommands"):
            continue
        out.append(".SH " + roff(heading.upper()))
        option_list(body, out)
    if a.subcommands:
        out.append(".SH SUBCOMMANDS")
        for name in subcommand_names(lines):
            subcommand_sections(a.program, [name], out)
    out.append(".SH FILES")
    out.append("/usr/share/doc/liftlab/README.md: how to use LiftLab, with its benchmarks.")
    if a.see_also:
        out.append(".SH SEE ALSO")
        out.append(",\n".join("\\fB%s\\fR(1)" % roff(page) for page in a.see_also))
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    sys.exit(main())
