/*
 * fuzz.h — the entry points libFuzzer (make fuzz) and fuzz/replay.c (make test) call in a
 * fuzz target. Every fuzz/fuzz_*.c includes it, so its definitions have a prototype.
 */
#ifndef GPTC_FUZZ_H
#define GPTC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
