#!/usr/bin/env bash
# The grid of bench/results/iobs-ablation.{json,md} (issue 12): every model × the core variants at
# 50/70/90 % and 2:4, the projections at 50 and 90 %, and the I-OBS paper's claim (iterations
# with the SparseGPT projection against SparseGPT) on the transformers at 70 and 90 %.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run bench:build >/dev/null
run() { node dist/bench/iobs-ablation.js "$@"; }
ALL=char-gpt,mlp-twice,conv,gpt,mlp,cnn,vit
run --models "$ALL" --variants sparsegpt,obc,iobs,iobs-T1,iobs-T10,iobs-select-layer,iobs-no-C --sparsities 0.5,0.7,0.9,2:4
run --models "$ALL" --variants iobs-proj-obc,iobs-proj-sparsegpt,iobs-proj-topk --sparsities 0.5,0.9
run --models char-gpt,gpt,vit --variants iobs-proj-sparsegpt,iobs-proj-sparsegpt-T1,iobs-proj-sparsegpt-T10,iobs-proj-sparsegpt-select-layer,iobs-proj-sparsegpt-no-C-T10 --sparsities 0.7,0.9
