"""Complete networks of monai-dianet."""
