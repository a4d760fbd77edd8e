#!/usr/bin/env cwl-runner
# `ra2 score --json` of a valid predictions file against the gold file.
cwlVersion: v1.2
class: CommandLineTool
label: ra2 score a predictions file (official SC1/SC2/SC3 and the paper's metrics) as JSON
doc: |
  Runs in the project's image (`ra2-submission`, or the image the job's overrides name) or, with the
  runner's --no-container, with the `ra2` on PATH.
hints:
  DockerRequirement:
    dockerPull: ra2-submission
baseCommand: [env]
arguments:
  - HOME=$(runtime.tmpdir)
  - ra2
  - score
  - $(inputs.predictions.path)
  - --gold
  - $(inputs.gold.path)
  - --json
  - scores.json
inputs:
  predictions: File
  gold: File
stdout: score.txt
outputs:
  scores:
    type: File
    outputBinding: {glob: scores.json}
  report:
    type: stdout
