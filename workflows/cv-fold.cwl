#!/usr/bin/env cwl-runner
# One fold of the method's cross-validation: `ra2 cv --fold K` (train the full method and its no-seg
# ablation on the other folds, predict and score the held-out patients) into a folder of its own.
cwlVersion: v1.2
class: CommandLineTool
label: ra2 cv --fold K (one cross-validation fold of the method)
doc: |
  Runs in the project's image (`ra2-submission`, or the image the job's overrides name) or, with the
  runner's --no-container, with the `ra2` on PATH. HOME is set to the job's scratch folder, so that
  Keras' and Matplotlib's caches stay out of the fold's folder. The fold assignment comes from
  `split_seed` (default: `seed`), so seed variants share their folds.
hints:
  DockerRequirement:
    dockerPull: ra2-submission
  ResourceRequirement:
    coresMin: 1
baseCommand: [env]
arguments:
  - HOME=$(runtime.tmpdir)
  - ra2
  - cv
  - --out
  - fold
inputs:
  data:
    type: Directory
    inputBinding: {prefix: --data}
    doc: the training folder (images, training.csv, landmarks.csv, masks/)
  folds:
    type: int
    inputBinding: {prefix: --folds}
  fold:
    type: int
    inputBinding: {prefix: --fold}
  seed:
    type: int
    default: 0
    inputBinding: {prefix: --seed}
  split_seed:
    type: int?
    inputBinding: {prefix: --split-seed}
  profile:
    type: string?
    inputBinding: {prefix: --profile}
  quick:
    type: boolean?
    inputBinding: {prefix: --quick}
  steps:
    type: int?
    inputBinding: {prefix: --steps}
  scheme:
    type: string?
    inputBinding: {prefix: --scheme}
stdout: fold.log
outputs:
  fold_dir:
    type: Directory
    outputBinding: {glob: fold}
  log:
    type: stdout
