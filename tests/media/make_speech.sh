#!/bin/sh
# Makes tests/media/speech.wav, the committed speech of the video tests, with eSpeak NG
# (Debian package espeak-ng 1.51). Run once; the output is committed, so tests and CI
# never need the synthesiser. The transcript is speech.txt.
set -e
cd "$(dirname "$0")"
espeak-ng -v en-us -s 150 -w speech.wav "$(cat speech.txt)"
