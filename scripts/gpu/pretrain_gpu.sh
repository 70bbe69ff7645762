#!/usr/bin/env bash
# The pretraining command on a GPU (bf16), as ONE call of the device tool of at most 8 minutes:
#
#   here, once:  echo /.gpu_data/ >> .git/info/exclude && mkdir -p .gpu_data &&
#                cp ../shared/data/pretrain_text/medical/*.xz .gpu_data/   (18.8 MB; ../shared does not travel)
#   device run:  command "bash scripts/gpu/pretrain_gpu.sh", carry [".gpu_data"], timeout_s 540
#
# The GPU image has torch, transformers, numpy and tqdm (not spaCy, gensim or jieba): this run
# uses single-character masking and random input embeddings, and a larger batch. It writes the
# Hugging Face folder (fp16 weights, under the 16 MB per-file limit of what comes back) to $OUT,
# then checks that it loads with AutoModelForMaskedLM there; load it here too with the pinned
# transformers (`python -c "from transformers import AutoModelForMaskedLM as M; M.from_pretrained(P)"`).
set -euo pipefail
OUT=${OUT:-/tmp/gpu-out}
MINUTES=${MINUTES:-6}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 - "$OUT/medchar-roformer-gpu" "$MINUTES" <<'PY'
import sys
from pathlib import Path

from zh_medner.encoder.pretrain import Recipe, pretrain
from zh_medner.encoder.text import TextSource

out, minutes = Path(sys.argv[1]), float(sys.argv[2])
recipe = Recipe(whole_word=False, word2vec=False, batch_tokens=65536, lr=2e-3, warmup_fraction=0.05)
pretrain([TextSource(Path(".gpu_data"), 1.0)], out, minutes, recipe, cache_dir=Path("/tmp/cache"),
         checkpoint_minutes=2, checkpoint_dir=Path("/tmp/ckpt"), fp16_weights=True, device="cuda",
         eval_sequences=2048, progress_bar=False)
PY
python3 -c "
import sys; from transformers import AutoModelForMaskedLM
m = AutoModelForMaskedLM.from_pretrained('$OUT/medchar-roformer-gpu'); print('loads:', type(m).__name__, m.dtype)"
ls -la "$OUT/medchar-roformer-gpu"
