"""Hands-on lessons of the course, with skeletons, reference solutions and a checker.

- ``lessons``: the catalogue of lessons, and the skeletons made from the marked solutions.
- ``solutions``: one runnable percent-cell (``# %%``) script per lesson, the reference solution.
- ``checker``: loads a learner's file and runs a lesson's steps; ``checks.lessonN`` holds them.
- ``timelimit``: the time limit of each step; ``progress``: the results kept in the learner's folder.
- ``datasets``: blobs, moons, digits (bundled or MNIST), pulses; ``idx`` reads MNIST's IDX files.
  Lesson 6 uses the challenge's own data, made by ``challenge.generate``.
- ``figures``: the PNG figures the lessons write; ``cli``: the ``exercises`` command.
"""
