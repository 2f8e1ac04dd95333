"""Floor 5, the study: profiles and runs, the paper's tables built once, the attention analysis, the preflight, REPORT.md.

Modules: ``runs`` (profiles, run configurations, seeds, train and evaluate once), ``tables``
(every paper-vs-ours table), ``attention`` (Fig. 4), ``preflight`` (plan and checks before a
profile runs), ``report`` (REPORT.md from the saved tables), ``comparison`` (peers over seeds),
``paper_numbers`` (the paper's quoted values), ``authors_scores`` (the authors' released score
arrays), ``stgram_weights`` (STgram-MFN's released weights). Imports only the floors below it.
Explained in notebooks 04_evaluation to 07_peers.
"""
