import click

@click.group()
def main():
    """pingpipe"""
