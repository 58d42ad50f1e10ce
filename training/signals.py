"""What training tells other apps, without knowing them.

``responses_generated``: a generate job registered its samples, in the transaction that marks
it succeeded. ``job`` is the TrainingJob; ``answers`` is [(prompt_id, response_id)] in the
job's row order (identical samples of a prompt are one response). Human evaluation uses it to
learn which contestant wrote which response.
"""

from django.dispatch import Signal

responses_generated = Signal()
