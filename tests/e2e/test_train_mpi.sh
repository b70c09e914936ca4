#!/bin/sh
# End-to-end tests of data-parallel `gptc train` over Open MPI (docs/train-distributed.md):
# 1, 2 and 3 ranks, ZeRO-0 and ZeRO-1, give the same loss curve and byte-identical model and
# checkpoint files; a checkpoint written by 2 ranks resumes with 1 and with 3 to the same bytes;
# a killed rank and a hung rank end the job with a message naming the rank, leaving the previous
# checkpoint intact; ranks started with different options stop at once with a clear error.
# Skipped (0 passed) when gptc was built without MPI or mpirun is missing.
. "$(dirname "$0")/lib/common.sh"
if ! "$GPTC" train --help | grep -q "built with Open MPI" || ! command -v mpirun >/dev/null 2>&1; then
    echo "skipped: gptc built without MPI, or no mpirun"
    echo "0 passed, 0 failed"
    exit 0
fi
export XDG_CACHE_HOME="$T/cache" # the token cache: not the user's
# as root (containers, CI) Open MPI wants to be told; the machine may have fewer cores than ranks
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# sanitizer builds: Open MPI's own allocations are not ours to report
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi() { n=$1; shift; timeout 120 mpirun --oversubscribe --bind-to none -np "$n" "$@"; }
# the step and loss of each --log line (tok/s differs from run to run)
curve() { grep '"loss"' "$1" | sed 's/,"tok_s".*//'; }
same_run() { # $1 = what, $2 $3 = run directories
    if cmp -s "$2/m.gguf" "$3/m.gguf" && cmp -s "$2/m.ckpt.gguf" "$3/m.ckpt.gguf" &&
        [ "$(curve "$2/l.jsonl")" = "$(curve "$3/l.jsonl")" ] && [ -s "$2/l.jsonl" ]; then ok; else
        bad "$1: files or loss curve differ from the reference"; fi
}

cp "$D/corpora/fortunes-min/fortunes" "$T/corpus.txt"
# 6 windows per step: 3 ranks split them 2/2/2, 2 ranks 3/3, on a tree of uneven halves
SMALL="--data $T/corpus.txt --dim 32 --layers 2 --heads 4 --ctx 32 --batch 6 --steps 6 --warmup 2 --lr 3e-3 --eval-every 3 -q"

"$GPTC" train --help | grep -q -- "--zero" && ok || bad "--help does not mention --zero"

# 1. the reference: one process, windowed
mkdir "$T/ref"
"$GPTC" train $SMALL --windowed --out "$T/ref/m.gguf" --log "$T/ref/l.jsonl" 2> "$T/err" && ok || bad "reference run: $(cat "$T/err")"

# 2. 1, 2 and 3 ranks with ZeRO-0 and ZeRO-1: the same bytes
for n in 1 2 3; do
    for z in 0 1; do
        mkdir "$T/n$n$z"
        mpi $n "$GPTC" train $SMALL --zero $z --out "$T/n$n$z/m.gguf" --log "$T/n$n$z/l.jsonl" > "$T/out" 2>&1 ||
            bad "mpirun -np $n --zero $z: $(tail -n 5 "$T/out")"
        same_run "-np $n --zero $z" "$T/ref" "$T/n$n$z"
    done
done
# rank 0 alone logs: one line per step
[ "$(grep -c '"loss"' "$T/n30/l.jsonl")" -eq 6 ] && ok || bad "3 ranks: $(grep -c '"loss"' "$T/n30/l.jsonl") log lines for 6 steps"

# 3. rank 1 of 2 is killed after step 4: the job ends, naming it; the step-3 checkpoint is whole
mkdir "$T/kill"
GPTC_TRAIN_TEST_KILL=1:4 mpi 2 "$GPTC" train $SMALL --zero 1 --ckpt-every 3 --dist-timeout 20 \
    --out "$T/kill/m.gguf" > "$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1" "$T/out" && ok || bad "killed rank: rc=$rc, $(tail -n 8 "$T/out")"
[ ! -e "$T/kill/m.gguf" ] && ok || bad "killed rank: a final model was written"
# ... and resumes with 1 process and with 3 ranks to the reference's bytes
for n in 1 3; do
    mkdir "$T/res$n"
    cp "$T/kill/m.ckpt.gguf" "$T/res$n/m.ckpt.gguf"
    if [ $n -eq 1 ]; then
        "$GPTC" train --resume "$T/res$n/m.ckpt.gguf" --data "$T/corpus.txt" -q --eval-every 3 \
            --out "$T/res$n/m.gguf" --log "$T/res$n/l.jsonl" > "$T/out" 2>&1
    else
        mpi $n "$GPTC" train --resume "$T/res$n/m.ckpt.gguf" --data "$T/corpus.txt" -q --eval-every 3 \
            --out "$T/res$n/m.gguf" --log "$T/res$n/l.jsonl" > "$T/out" 2>&1
    fi
    [ $? -eq 0 ] && ok || bad "resume with $n: $(tail -n 5 "$T/out")"
    # the resumed log has steps 4..6 only: compare those
    cmp -s "$T/ref/m.gguf" "$T/res$n/m.gguf" && cmp -s "$T/ref/m.ckpt.gguf" "$T/res$n/m.ckpt.gguf" &&
        [ "$(curve "$T/ref/l.jsonl" | tail -n 3)" = "$(curve "$T/res$n/l.jsonl")" ] && ok ||
        bad "checkpoint of 2 ranks resumed with $n: differs from the uninterrupted run"
done

# 4. a hung rank (stopped): the others give up after --dist-timeout, naming it
mkdir "$T/hang"
GPTC_TRAIN_TEST_KILL=2:4:stop mpi 3 "$GPTC" train $SMALL --dist-timeout 3 --ckpt-every 3 \
    --out "$T/hang/m.gguf" > "$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "waited 3 s for rank 2" "$T/out" && ok ||
    bad "hung rank: rc=$rc, $(tail -n 8 "$T/out")"
"$GPTC" train --resume "$T/hang/m.ckpt.gguf" --data "$T/corpus.txt" -q --eval-every 3 --out "$T/hang/m.gguf" \
    > "$T/out" 2>&1 && cmp -s "$T/ref/m.gguf" "$T/hang/m.gguf" && ok || bad "hung rank: its checkpoint does not resume to the reference"

# 5. ranks started with different options: a clear error at the start, no hang
mpi 1 "$GPTC" train $SMALL --out "$T/x.gguf" : -np 1 "$GPTC" train $SMALL --lr 1e-3 --out "$T/x.gguf" > "$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "gptc: train: rank 1 was started with other options" "$T/out" && ok ||
    bad "different options: rc=$rc, $(tail -n 5 "$T/out")"
# more ranks than windows per step
mpi 3 "$GPTC" train $SMALL --batch 2 --out "$T/y.gguf" > "$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "3 ranks but only 2 windows per step" "$T/out" && ok || bad "3 ranks, 2 windows: rc=$rc, $(tail -n 5 "$T/out")"

summary
