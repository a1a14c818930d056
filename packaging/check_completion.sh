#!/bin/bash
# Checks that the bash completion of liftlab-cli knows every subcommand and
# every option the binary has: the subcommands `liftlab-cli --help` lists
# (and theirs, as `bench loss`), and each option `liftlab-cli <sub> --help`
# prints.
#
#   packaging/check_completion.sh build/release/app/liftlab-cli packaging/liftlab-cli.bash-completion
#
# Exit status: 0 all there, 1 something missing (named on stderr), 2 the
# binary's help could not be read.
set -u

if [[ $# -ne 2 ]]; then
    echo "usage: $0 LIFTLAB_CLI COMPLETION_FILE" >&2
    exit 2
fi
cli=$1
completion=$2
if [[ ! -r $completion ]]; then
    echo "$0: cannot read $completion" >&2
    exit 2
fi

# cli_help SUBCOMMAND...: the help text of `liftlab-cli SUBCOMMAND... --help`.
cli_help()
{
    local text
    if ! text=$("$cli" "$@" --help 2>&1); then
        echo "$0: '$cli${*:+ $*} --help' failed:" >&2
        echo "$text" >&2
        exit 2
    fi
    printf '%s\n' "$text"
}

# subcommands HELP: the names under "Subcommands:".
subcommands()
{
    awk '/^Subcommands:/ { in_list = 1; next }
         in_list && /^[^ ]/ { in_list = 0 }
         in_list && /^  [a-z]/ { print $1 }' <<<"$1"
}

# options HELP: every option name under "Options:", long and short: CLI11
# prints "  -P,--classes-per-batch INT=4", "  --augment,--no-augment{false}".
options()
{
    awk '/^Options:/ { in_list = 1; next }
         in_list && /^[^ ]/ { in_list = 0 }
         in_list && /^ +-/ {
             n = split($1, names, ",")
             for (i = 1; i <= n; i++) {
                 name = names[i]
                 sub(/[{=].*/, "", name)
                 if (name ~ /^--?[A-Za-z0-9]/)
                     print name
             }
         }' <<<"$1"
}

# known WORD: the completion file has WORD, not as part of a longer name.
known()
{
    grep -qE -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|$)" "$completion"
}

missing=()
checked=0

# check SUBCOMMAND...: the options of a (sub)command, then its subcommands.
check()
{
    local text sub name where="liftlab-cli${*:+ $*}"
    text=$(cli_help "$@") || exit 2
    while read -r name; do
        [[ -n $name ]] || continue
        checked=$((checked + 1))
        known "$name" || missing+=("$where: option $name")
    done < <(options "$text")
    while read -r sub; do
        [[ -n $sub ]] || continue
        checked=$((checked + 1))
        known "$sub" || missing+=("$where: subcommand $sub")
        check "$@" "$sub"
    done < <(subcommands "$text")
}

check
if [[ $checked -eq 0 ]]; then
    echo "$0: found no subcommands or options in '$cli --help'" >&2
    exit 2
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "$completion lacks:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi
echo "$completion: all $checked subcommands and options of $cli are there"
