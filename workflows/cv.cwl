#!/usr/bin/env cwl-runner
# The method's cross-validation as independent jobs: cv-fold.cwl scattered over folds x seeds
# (every seed on the same split), then cv-merge.cwl.
cwlVersion: v1.2
class: Workflow
label: K-fold cross-validation of the method, one job per fold and seed, then the merge
doc: |
  `folds` is K; `fold_ids` lists the folds to run (1..K: every fold, which the merge requires), so
  that no expression is needed. `split_seed` fixes the fold assignment for every seed (default: each
  seed's own, which gives every seed its own split: give it when `seeds` has several).
requirements:
  ScatterFeatureRequirement: {}
inputs:
  data: Directory
  folds: int
  fold_ids: int[]
  seeds:
    type: int[]
    default: [0]
  split_seed: int?
  profile: string?
  quick: boolean?
  steps: int?
  scheme: string?
steps:
  fold:
    run: cv-fold.cwl
    scatter: [fold, seed]
    scatterMethod: flat_crossproduct
    in:
      data: data
      folds: folds
      fold: fold_ids
      seed: seeds
      split_seed: split_seed
      profile: profile
      quick: quick
      steps: steps
      scheme: scheme
    out: [fold_dir, log]
  merge:
    run: cv-merge.cwl
    in:
      fold_dirs: fold/fold_dir
    out: [cv, log]
outputs:
  cv:
    type: Directory
    outputSource: merge/cv
  fold_logs:
    type: File[]
    outputSource: fold/log
  merge_log:
    type: File
    outputSource: merge/log
