#!/bin/sh
# libgptc.so: it exports exactly the functions include/gptc.h declares (GPTC_API, everything
# else hidden); examples/simple linked against it gives the same text as the static build; a
# program that defines ggml's gguf_* names links against it and runs (tests/link/own_gguf.c).
. "$(dirname "$0")/lib/common.sh"
B=$(dirname "$GPTC")

# 1. exports: every function gptc.h declares, nothing else (names starting with _ belong to the
#    C implementation and the sanitizers)
nm -D --defined-only "$B/libgptc.so" | awk 'NF == 3 && $3 !~ /^_/ { print $3 }' | sort -u > "$T/exported"
grep -oE '^(GPTC_API )?[a-z_0-9 ]+[ *]+gptc_[a-z_0-9]+\(' include/gptc.h | grep -oE 'gptc_[a-z_0-9]+\($' | tr -d '(' | sort -u > "$T/declared"
[ "$(wc -l < "$T/declared")" -gt 40 ] && ok || bad "found only $(wc -l < "$T/declared") declarations in gptc.h"
check "$(comm -23 "$T/declared" "$T/exported" | tr '\n' ' ')" "" "declared in gptc.h but not exported (GPTC_API missing?)"
check "$(comm -13 "$T/declared" "$T/exported" | tr '\n' ' ')" "" "exported but not declared in gptc.h"
# every public declaration carries GPTC_API
check "$(grep -nE '^[a-z].*[ *]gptc_[a-z_0-9]+\(' include/gptc.h | grep -v 'GPTC_API' | grep -v typedef | head -5)" "" "declarations without GPTC_API"
check "$(readelf -d "$B/libgptc.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')" "libgptc.so.$(sed -n 's/^#define GPTC_VERSION_MAJOR \([0-9]*\)/\1/p' include/gptc.h)" "soname libgptc.so.MAJOR"

# 2. examples/simple, shared and static: the same text
"$B/examples/simple_shared" "$D/gguf/stories260K.gguf" -n 48 "Lily and Ben" > "$T/shared.txt" 2>&1
"$B/examples/simple" "$D/gguf/stories260K.gguf" -n 48 "Lily and Ben" > "$T/static.txt" 2>&1
[ -s "$T/static.txt" ] && ok || bad "simple printed nothing"
check "$(cat "$T/shared.txt")" "$(cat "$T/static.txt")" "simple_shared = simple"
ldd "$B/examples/simple_shared" | grep -q 'libgptc\.so\.[0-9]* => .*/libgptc\.so' && ok || bad "simple_shared does not load libgptc.so: $(ldd "$B/examples/simple_shared" | grep gptc)"

# 3. a program with its own gguf_find_tensor, gguf_add_tensor, gguf_set_arr_str
out=$("$B/link/own_gguf_shared" "$D/gguf/stories260K.gguf" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q '^own_gguf: ok'; then ok; else bad "own_gguf_shared: rc=$rc $out"; fi

# 4. the version: gptc --version, the header and the library agree
V=$(sed -n 's/^#define GPTC_VERSION_STRING "\(.*\)"/\1/p' include/gptc.h)
check "$($GPTC --version)" "gptc $V" "gptc --version"
check "$(sed -n 's/^#define GPTC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' include/gptc.h | paste -sd.)" "$V" "GPTC_VERSION_STRING = MAJOR.MINOR.PATCH"
echo "$out" | grep -q "libgptc $V" && ok || bad "gptc_version() from the shared library: $out"
# 5. make install: the libraries, the header, gptc.pc; a program built with pkg-config runs
#    (-o: install what this build made, never rebuild it here)
P="$T/prefix"
if env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory install BUILD="$B" PREFIX="$P" \
        -o "$B/gptc" -o "$B/libgptc.a" -o "$B/libgptc.so" > "$T/install.log" 2>&1; then ok; else
    bad "make install: $(tail -n 5 "$T/install.log")"; fi
M=$(sed -n 's/^#define GPTC_VERSION_MAJOR \([0-9]*\)/\1/p' include/gptc.h)
for f in include/gptc.h lib/libgptc.a "lib/libgptc.so.$V" "lib/libgptc.so.$M" lib/libgptc.so lib/pkgconfig/gptc.pc; do
    [ -e "$P/$f" ] && ok || bad "make install did not install $f"
done
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
check "$(pkg-config --modversion gptc 2>&1)" "$V" "pkg-config --modversion gptc"
check "$(pkg-config --cflags --libs gptc 2>&1 | sed "s/ *$//")" "-I$P/include -L$P/lib -lgptc" "pkg-config --cflags --libs gptc"
if nm -D "$B/libgptc.so" | grep -q ' __asan_'; then
    echo "(sanitizer build: the installed library is built for the sanitizers; not linking it with cc)"
else
    cc -o "$T/simple_pc" examples/simple.c $(pkg-config --cflags --libs gptc) -Wl,-rpath,"$P/lib" 2> "$T/cc.log" &&
        ok || bad "cc examples/simple.c \$(pkg-config --cflags --libs gptc): $(head -c 500 "$T/cc.log")"
    check "$("$T/simple_pc" "$D/gguf/stories260K.gguf" -n 48 "Lily and Ben" 2>&1)" "$(cat "$T/static.txt")" "simple built with pkg-config (shared)"
    cc -o "$T/simple_pc_static" examples/simple.c $(pkg-config --static --cflags --libs gptc | sed "s|-lgptc|$P/lib/libgptc.a|") 2> "$T/cc.log" &&
        ok || bad "cc examples/simple.c, pkg-config --static: $(head -c 500 "$T/cc.log")"
    check "$("$T/simple_pc_static" "$D/gguf/stories260K.gguf" -n 48 "Lily and Ben" 2>&1)" "$(cat "$T/static.txt")" "simple built with pkg-config --static"
fi
summary
