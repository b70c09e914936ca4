#!/bin/sh
# Read errors on the model file (issue 10, must show): an LD_PRELOAD shim (tests/e2e/lib/eio.c)
# makes the open fail, the map fail, or a page of the mapped file fail (the file is cut short
# after it was mapped: touching a later page is a bus error, as a disk read error of a mapped
# file arrives). gptc run, info and serve each give one clear line and exit 1: no core dump, no
# misleading message.
. "$(dirname "$0")/lib/common.sh"
if ! ${CC:-cc} -shared -fPIC -o "$T/eio.so" tests/e2e/lib/eio.c -ldl 2> "$T/cc.err"; then
    echo "test_model_io: cannot build the shim: $(cat "$T/cc.err")"; echo "0 passed, 1 failed"; exit 1
fi
# a sanitized gptc (make san) carries its own open/mmap interceptors, which a preloaded shim
# cannot replace, and its own SIGBUS handling: this test is for the plain build
if grep -q -a -m 1 "__asan_init\|__tsan_init" "$GPTC"; then
    echo "test_model_io: skipped on a sanitized build (its interceptors come before the shim)"
    echo "0 passed, 0 failed"; exit 0
fi
PRE="$T/eio.so"
# one line "gptc: ..." matching $2, exit 1; $1 what; rest: command
expect() {
    what=$1; pat=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; rc=$?
    if [ $rc -eq 1 ] && grep -q "^gptc: .*$pat" "$T/err" && [ "$(grep -c . "$T/err")" -le 2 ]; then ok; else
        bad "$what: rc=$rc, stderr: $(head -c 600 "$T/err")"; fi
}
for mode in open map fault; do
    cp "$D/gguf/stories260K.gguf" "$T/m.gguf"
    case $mode in
    open) pat="Input/output error" ;;
    map) pat="Input/output error" ;;
    fault) pat="could not be read" ;;
    esac
    expect "run, $mode" "$pat" env LD_PRELOAD="$PRE" GPTC_EIO_FILE="$T/m.gguf" GPTC_EIO_MODE=$mode $GPTC run "$T/m.gguf" -p "Once" -n 4 -q
    cp "$D/gguf/stories260K.gguf" "$T/m.gguf"
    expect "serve, $mode" "$pat" env LD_PRELOAD="$PRE" GPTC_EIO_FILE="$T/m.gguf" GPTC_EIO_MODE=$mode $GPTC serve "$T/m.gguf" --port 0 --data-dir "$T/data"
done
# the misleading message of defect 12 is not back: an open error is not "read as llama2.c"
cp "$D/gguf/stories260K.gguf" "$T/m.gguf"
env LD_PRELOAD="$PRE" GPTC_EIO_FILE="$T/m.gguf" GPTC_EIO_MODE=open $GPTC run "$T/m.gguf" -p x -n 1 2> "$T/err"
grep -q "llama2" "$T/err" && bad "open error reported as llama2.c: $(cat "$T/err")" || ok
# the same file without the shim works
out=$($GPTC run "$T/m.gguf" -p "Once" -n 4 -q --seed 1 2>&1) && ok || bad "run without the shim: $out"
summary
