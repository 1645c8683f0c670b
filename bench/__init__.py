"""`make bench`: the API's performance measured against baselines on a large synthetic plan.

Not part of the test suite. See the README's "Performance" section.
"""
