"""The challenge's loops as CWL v1.2 workflows, and the code that runs them with an existing engine.

The ``*.cwl`` files here are the unit of work (``submission.cwl``: one submission image;
``evaluate.cwl``: submission, then ``ra2 validate`` and ``ra2 score``; ``cv-fold.cwl`` and
``cv.cwl``: cross-validation folds and their merge); ``engine`` runs one of them with ``cwltool``
(the local default) or ``toil-cwl-runner`` (a cluster's batch system), ``evaluate`` is
``ra2 evaluate`` (many submission images, then ``ra2 leaderboard``) and ``cv`` is
``ra2 cv --engine``.  There is no scheduler here: the engines schedule.
"""
