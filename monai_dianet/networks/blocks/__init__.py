"""Building blocks of the monai-dianet networks."""
