"""The ``minikube-py`` command line (click). ``print`` lives here and nowhere else."""
