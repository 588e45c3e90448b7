"""The course autograder: nbgrader autograde over a folder or zip of submissions."""
