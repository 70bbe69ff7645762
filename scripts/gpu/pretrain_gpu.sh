#!/usr/bin/env bash
# Pretrain the character RoFormer on a CUDA GPU in bf16, from the repository root of a checkout
# where the project is installed (`pip install -e .`; a CUDA build of torch):
#
#   bash scripts/gpu/pretrain_gpu.sh OUTPUT [MINUTES] [TEXT...]
#
# The recipe is configs/pretrain_medchar_roformer_gpu.json: the shipped encoder's shape and
# masking (configs/pretrain_medchar_roformer.json) with a GPU-sized batch (65,536 tokens), a
# higher peak learning rate, and random input embeddings (no gensim needed). TEXT defaults to the
# medical and general text under ../shared/data/pretrain_text, weighted 3:1. The weights are
# saved in fp16 (half the file; they load as fp32). OUTPUT must be a new folder; run the same
# command with --resume appended to scripts/pretrain_encoder.py to continue an interrupted run.
set -euo pipefail
OUTPUT=${1:?usage: bash scripts/gpu/pretrain_gpu.sh OUTPUT [MINUTES] [TEXT...]}
MINUTES=${2:-6}
shift $(( $# < 2 ? $# : 2 ))
TEXTS=("$@")
if [ ${#TEXTS[@]} -eq 0 ]; then
  TEXTS=(../shared/data/pretrain_text/medical:3 ../shared/data/pretrain_text/general:1)
fi
TEXT_ARGS=()
for t in "${TEXTS[@]}"; do TEXT_ARGS+=(--text "$t"); done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
TOKENIZERS_PARALLELISM=false python scripts/pretrain_encoder.py "$OUTPUT" \
  --recipe configs/pretrain_medchar_roformer_gpu.json "${TEXT_ARGS[@]}" --minutes "$MINUTES" \
  --device cuda --checkpoint-minutes 2 --fp16-weights
python -c "import sys; from transformers import AutoModelForMaskedLM as M; m = M.from_pretrained(sys.argv[1]); print('loads:', type(m).__name__, m.dtype)" "$OUTPUT"
