#!/bin/sh
# Prints compile_commands.json for the given sources, compiled with CC and
# CFLAGS as the Makefile does. Usage: compdb.sh CC CFLAGS FILE...
set -eu
cc=$1
flags=$2
shift 2
dir=$(pwd)
printf '[\n'
sep=''
for f in "$@"; do
    cmd=$(printf '%s %s -c -o /dev/null %s' "$cc" "$flags" "$f" | sed 's/\\/\\\\/g; s/"/\\"/g')
    printf '%s  {"directory": "%s", "file": "%s", "command": "%s"}' "$sep" "$dir" "$f" "$cmd"
    sep=',
'
done
printf '\n]\n'
