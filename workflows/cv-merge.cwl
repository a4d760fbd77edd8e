#!/usr/bin/env cwl-runner
# `ra2 cv merge`: the folders of `ra2 cv --fold` into the folder `ra2 cv` writes.
cwlVersion: v1.2
class: CommandLineTool
label: ra2 cv merge (per-fold tables and folds, as ra2 cv writes them)
hints:
  DockerRequirement:
    dockerPull: ra2-submission
baseCommand: [env]
arguments:
  - HOME=$(runtime.tmpdir)
  - ra2
  - cv
  - merge
  - --out
  - cv
inputs:
  fold_dirs:
    type: Directory[]
    inputBinding: {position: 1}
stdout: merge.log
outputs:
  cv:
    type: Directory
    outputBinding: {glob: cv}
  log:
    type: stdout
