#!/usr/bin/env bash
# The main job: set up the environment (idempotent), then run the BraTS bundle end to end on the embedded
# generated data (BraTS 2021 and 2023 layouts): train DIANet-3D on the training split (checkpoint chosen on the
# validation split), fit the ACWI router on the validation split, evaluate Dice/HD95/ECE and the routing on the test
# split (no case shared with training or validation), and run inference with MC-dropout uncertainty.
# Extra arguments are passed to every bundle command,
# e.g. `bash scripts/run_main.sh --max_epochs 20` or `--dataset_dir /data/BraTS2021`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
py="${MONAI_DIANET_VENV:-$root/.venv}/bin/python"
export MPLBACKEND=Agg
bundle="$root/bundles/dianet_brats_segmentation"
cd "$bundle"
# Small CPU settings: a few minutes on two cores. Drop them for a real run.
quick=(--max_epochs 12 --learning_rate 0.005 --roi_size "[64,64,32]" --num_workers 0)

echo "== train (checkpoints in $bundle/models) =="
"$py" -m monai.bundle run --config_file configs/train.json "${quick[@]}" "$@"
echo "== evaluate: router fitted on the validation split; Dice/HD95 per region, ECE and routing on the test split =="
"$py" -m monai.bundle run --config_file "['configs/train.json','configs/evaluate.json']" "${quick[@]}" "$@"
echo "== inference: segmentation, uncertainty map and routing record per case =="
"$py" -m monai.bundle run --config_file configs/inference.json "${quick[@]}" --output_dir "$bundle/output" --save_png true "$@"

echo "== written =="
ls -l "$bundle/models" "$bundle/eval" "$bundle/output"
