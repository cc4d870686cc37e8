#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the committed fixtures (the corpus is git-ignored).
set -eu
cd "$(dirname "$0")"
F=../fixtures
mkdir -p corpus/mp4 corpus/ivf corpus/annexb corpus/avcc corpus/mkv corpus/mpeg2
cp $F/*.mp4 $F/*.mov corpus/mp4/
cp $F/*.m2v corpus/mpeg2/
cp $F/*.ivf corpus/ivf/
cp $F/*.mkv $F/*.webm corpus/mkv/
for f in $F/*.264 $F/*.265; do
  # First byte selects codec (bit 0) and chunk size (bits 1..7) for the annexb target.
  case "$f" in *.265) sel='\001';; *) sel='\000';; esac
  { printf "$sel"; cat "$f"; } > "corpus/annexb/$(basename "$f")"
  { printf '\377'; head -c 4000 "$f"; } > "corpus/annexb/$(basename "$f").chunked"
done
# Length-prefixed samples: the first 8 KB of each MP4's mdat-bearing tail, with selector 2 (4-byte).
for f in $F/h264_bframes.mp4 $F/hevc_main_hvc1.mp4; do
  { printf '\002'; tail -c 6000 "$f" | head -c 3000; } > "corpus/avcc/$(basename "$f")"
done
printf '\002\000\000\000\003\145\001\002\000\000\000\002\101\232' > corpus/avcc/tiny
cp $F/garbage.bin corpus/mp4/ && cp $F/garbage.bin corpus/ivf/ && cp $F/garbage.bin corpus/mkv/
cp $F/garbage.bin corpus/mpeg2/
