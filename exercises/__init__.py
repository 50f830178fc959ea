"""Hands-on lessons of the course, with skeletons, reference solutions and a checker."""
