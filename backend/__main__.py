from backend.cli import main

if __name__ == "__main__":  # worker processes (anju plates) import this module too
    main()
