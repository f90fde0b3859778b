"""docker CLI 28.2.2 help texts (`docker COMMAND --help`), captured once; `docker` in usage
lines replaced by `dockyard`. Generated data: the option tables are parsed from these."""

HELP: dict[str, str] = {
    'version': (
        'Usage:  dockyard version [OPTIONS]\n'
        '\n'
        'Show the Docker version information\n'
        '\n'
        'Options:\n'
        '  -f, --format string   Format output using a custom template:\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
    ),
    'info': (
        'Usage:  dockyard info [OPTIONS]\n'
        '\n'
        'Display system-wide information\n'
        '\n'
        'Aliases:\n'
        '  dockyard system info, dockyard info\n'
        '\n'
        'Options:\n'
        '  -f, --format string   Format output using a custom template:\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
    ),
    'images': (
        'Usage:  dockyard images [OPTIONS] [REPOSITORY[:TAG]]\n'
        '\n'
        'List images\n'
        '\n'
        'Aliases:\n'
        '  dockyard image ls, dockyard image list, dockyard images\n'
        '\n'
        'Options:\n'
        '  -a, --all             Show all images (default hides intermediate images)\n'
        '      --digests         Show digests\n'
        '  -f, --filter filter   Filter output based on conditions provided\n'
        '      --format string   Format output using a custom template:\n'
        "                        'table':            Print output in table format\n"
        '                        with column headers (default)\n'
        "                        'table TEMPLATE':   Print output in table format\n"
        '                        using the given Go template\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
        "      --no-trunc        Don't truncate output\n"
        '  -q, --quiet           Only show image IDs\n'
        '      --tree            List multi-platform images as a tree (EXPERIMENTAL)\n'
    ),
    'pull': (
        'Usage:  dockyard pull [OPTIONS] NAME[:TAG|@DIGEST]\n'
        '\n'
        'Download an image from a registry\n'
        '\n'
        'Aliases:\n'
        '  dockyard image pull, dockyard pull\n'
        '\n'
        'Options:\n'
        '  -a, --all-tags                Download all tagged images in the repository\n'
        '      --disable-content-trust   Skip image verification (default true)\n'
        '      --platform string         Set platform if server is multi-platform\n'
        '                                capable\n'
        '  -q, --quiet                   Suppress verbose output\n'
    ),
    'push': (
        'Usage:  dockyard push [OPTIONS] NAME[:TAG]\n'
        '\n'
        'Upload an image to a registry\n'
        '\n'
        'Aliases:\n'
        '  dockyard image push, dockyard push\n'
        '\n'
        'Options:\n'
        '  -a, --all-tags                Push all tags of an image to the repository\n'
        '      --disable-content-trust   Skip image signing (default true)\n'
        '      --platform string         Push a platform-specific manifest as a\n'
        '                                single-platform image to the registry.\n'
        "                                Image index won't be pushed, meaning that\n"
        '                                other manifests, including attestations\n'
        "                                won't be preserved.\n"
        "                                'os[/arch[/variant]]': Explicit platform\n"
        '                                (eg. linux/amd64)\n'
        '  -q, --quiet                   Suppress verbose output\n'
    ),
    'tag': (
        'Usage:  dockyard tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n'
        '\n'
        'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE\n'
        '\n'
        'Aliases:\n'
        '  dockyard image tag, dockyard tag\n'
    ),
    'rmi': (
        'Usage:  dockyard rmi [OPTIONS] IMAGE [IMAGE...]\n'
        '\n'
        'Remove one or more images\n'
        '\n'
        'Aliases:\n'
        '  dockyard image rm, dockyard image remove, dockyard rmi\n'
        '\n'
        'Options:\n'
        '  -f, --force              Force removal of the image\n'
        '      --no-prune           Do not delete untagged parents\n'
        '      --platform strings   Remove only the given platform variant.\n'
        '                           Formatted as "os[/arch[/variant]]" (e.g.,\n'
        '                           "linux/amd64")\n'
    ),
    'history': (
        'Usage:  dockyard history [OPTIONS] IMAGE\n'
        '\n'
        'Show the history of an image\n'
        '\n'
        'Aliases:\n'
        '  dockyard image history, dockyard history\n'
        '\n'
        'Options:\n'
        '      --format string     Format output using a custom template:\n'
        "                          'table':            Print output in table\n"
        '                          format with column headers (default)\n'
        "                          'table TEMPLATE':   Print output in table\n"
        '                          format using the given Go template\n'
        "                          'json':             Print in JSON format\n"
        "                          'TEMPLATE':         Print output using the\n"
        '                          given Go template.\n'
        '                          Refer to https://docs.docker.com/go/formatting/\n'
        '                          for more information about formatting output\n'
        '                          with templates\n'
        '  -H, --human             Print sizes and dates in human readable format\n'
        '                          (default true)\n'
        "      --no-trunc          Don't truncate output\n"
        '      --platform string   Show history for the given platform. Formatted\n'
        '                          as "os[/arch[/variant]]" (e.g., "linux/amd64")\n'
        '  -q, --quiet             Only show image IDs\n'
    ),
    'save': (
        'Usage:  dockyard save [OPTIONS] IMAGE [IMAGE...]\n'
        '\n'
        'Save one or more images to a tar archive (streamed to STDOUT by default)\n'
        '\n'
        'Aliases:\n'
        '  dockyard image save, dockyard save\n'
        '\n'
        'Options:\n'
        '  -o, --output string     Write to a file, instead of STDOUT\n'
        '      --platform string   Save only the given platform variant. Formatted\n'
        '                          as "os[/arch[/variant]]" (e.g., "linux/amd64")\n'
    ),
    'load': (
        'Usage:  dockyard load [OPTIONS]\n'
        '\n'
        'Load an image from a tar archive or STDIN\n'
        '\n'
        'Aliases:\n'
        '  dockyard image load, dockyard load\n'
        '\n'
        'Options:\n'
        '  -i, --input string      Read from tar archive file, instead of STDIN\n'
        '      --platform string   Load only the given platform variant. Formatted\n'
        '                          as "os[/arch[/variant]]" (e.g., "linux/amd64")\n'
        '  -q, --quiet             Suppress the load output\n'
    ),
    'import': (
        'Usage:  dockyard import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]\n'
        '\n'
        'Import the contents from a tarball to create a filesystem image\n'
        '\n'
        'Aliases:\n'
        '  dockyard image import, dockyard import\n'
        '\n'
        'Options:\n'
        '  -c, --change list       Apply Dockerfile instruction to the created image\n'
        '  -m, --message string    Set commit message for imported image\n'
        '      --platform string   Set platform if server is multi-platform capable\n'
    ),
    'login': (
        'Usage:  dockyard login [OPTIONS] [SERVER]\n'
        '\n'
        'Authenticate to a registry.\n'
        'Defaults to Docker Hub if no server is specified.\n'
        '\n'
        'Options:\n'
        '  -p, --password string   Password or Personal Access Token (PAT)\n'
        '      --password-stdin    Take the Password or Personal Access Token\n'
        '                          (PAT) from stdin\n'
        '  -u, --username string   Username\n'
    ),
    'logout': (
        'Usage:  dockyard logout [SERVER]\n'
        '\n'
        'Log out from a registry.\n'
        'If no server is specified, the default is defined by the daemon.\n'
    ),
    'inspect': (
        'Usage:  dockyard inspect [OPTIONS] NAME|ID [NAME|ID...]\n'
        '\n'
        'Return low-level information on Docker objects\n'
        '\n'
        'Options:\n'
        '  -f, --format string   Format output using a custom template:\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
        '  -s, --size            Display total file sizes if the type is container\n'
        '      --type string     Only inspect objects of the given type\n'
    ),
    'ps': (
        'Usage:  dockyard ps [OPTIONS]\n'
        '\n'
        'List containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container ls, dockyard container list, dockyard container ps, dockyard ps\n'
        '\n'
        'Options:\n'
        '  -a, --all             Show all containers (default shows just running)\n'
        '  -f, --filter filter   Filter output based on conditions provided\n'
        '      --format string   Format output using a custom template:\n'
        "                        'table':            Print output in table format\n"
        '                        with column headers (default)\n'
        "                        'table TEMPLATE':   Print output in table format\n"
        '                        using the given Go template\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
        '  -n, --last int        Show n last created containers (includes all\n'
        '                        states) (default -1)\n'
        '  -l, --latest          Show the latest created container (includes all\n'
        '                        states)\n'
        "      --no-trunc        Don't truncate output\n"
        '  -q, --quiet           Only display container IDs\n'
        '  -s, --size            Display total file sizes\n'
    ),
    'rm': (
        'Usage:  dockyard rm [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Remove one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container rm, dockyard container remove, dockyard rm\n'
        '\n'
        'Options:\n'
        '  -f, --force     Force the removal of a running container (uses SIGKILL)\n'
        '  -l, --link      Remove the specified link\n'
        '  -v, --volumes   Remove anonymous volumes associated with the container\n'
    ),
    'stop': (
        'Usage:  dockyard stop [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Stop one or more running containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container stop, dockyard stop\n'
        '\n'
        'Options:\n'
        '  -s, --signal string   Signal to send to the container\n'
        '  -t, --timeout int     Seconds to wait before killing the container\n'
    ),
    'start': (
        'Usage:  dockyard start [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Start one or more stopped containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container start, dockyard start\n'
        '\n'
        'Options:\n'
        '  -a, --attach                  Attach STDOUT/STDERR and forward signals\n'
        '      --checkpoint string       Restore from this checkpoint\n'
        '      --checkpoint-dir string   Use a custom checkpoint storage directory\n'
        '      --detach-keys string      Override the key sequence for detaching a\n'
        '                                container\n'
        "  -i, --interactive             Attach container's STDIN\n"
    ),
    'restart': (
        'Usage:  dockyard restart [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Restart one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container restart, dockyard restart\n'
        '\n'
        'Options:\n'
        '  -s, --signal string   Signal to send to the container\n'
        '  -t, --timeout int     Seconds to wait before killing the container\n'
    ),
    'kill': (
        'Usage:  dockyard kill [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Kill one or more running containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container kill, dockyard kill\n'
        '\n'
        'Options:\n'
        '  -s, --signal string   Signal to send to the container\n'
    ),
    'wait': (
        'Usage:  dockyard wait CONTAINER [CONTAINER...]\n'
        '\n'
        'Block until one or more containers stop, then print their exit codes\n'
        '\n'
        'Aliases:\n'
        '  dockyard container wait, dockyard wait\n'
    ),
    'logs': (
        'Usage:  dockyard logs [OPTIONS] CONTAINER\n'
        '\n'
        'Fetch the logs of a container\n'
        '\n'
        'Aliases:\n'
        '  dockyard container logs, dockyard logs\n'
        '\n'
        'Options:\n'
        '      --details        Show extra details provided to logs\n'
        '  -f, --follow         Follow log output\n'
        '      --since string   Show logs since timestamp (e.g.\n'
        '                       "2013-01-02T13:23:37Z") or relative (e.g. "42m"\n'
        '                       for 42 minutes)\n'
        '  -n, --tail string    Number of lines to show from the end of the logs\n'
        '                       (default "all")\n'
        '  -t, --timestamps     Show timestamps\n'
        '      --until string   Show logs before a timestamp (e.g.\n'
        '                       "2013-01-02T13:23:37Z") or relative (e.g. "42m"\n'
        '                       for 42 minutes)\n'
    ),
    'rename': (
        'Usage:  dockyard rename CONTAINER NEW_NAME\n'
        '\n'
        'Rename a container\n'
        '\n'
        'Aliases:\n'
        '  dockyard container rename, dockyard rename\n'
    ),
    'pause': (
        'Usage:  dockyard pause CONTAINER [CONTAINER...]\n'
        '\n'
        'Pause all processes within one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container pause, dockyard pause\n'
    ),
    'unpause': (
        'Usage:  dockyard unpause CONTAINER [CONTAINER...]\n'
        '\n'
        'Unpause all processes within one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container unpause, dockyard unpause\n'
    ),
    'top': (
        'Usage:  dockyard top CONTAINER [ps OPTIONS]\n'
        '\n'
        'Display the running processes of a container\n'
        '\n'
        'Aliases:\n'
        '  dockyard container top, dockyard top\n'
    ),
    'image history': (
        'Usage:  dockyard image history [OPTIONS] IMAGE\n'
        '\n'
        'Show the history of an image\n'
        '\n'
        'Aliases:\n'
        '  dockyard image history, dockyard history\n'
        '\n'
        'Options:\n'
        '      --format string     Format output using a custom template:\n'
        "                          'table':            Print output in table\n"
        '                          format with column headers (default)\n'
        "                          'table TEMPLATE':   Print output in table\n"
        '                          format using the given Go template\n'
        "                          'json':             Print in JSON format\n"
        "                          'TEMPLATE':         Print output using the\n"
        '                          given Go template.\n'
        '                          Refer to https://docs.docker.com/go/formatting/\n'
        '                          for more information about formatting output\n'
        '                          with templates\n'
        '  -H, --human             Print sizes and dates in human readable format\n'
        '                          (default true)\n'
        "      --no-trunc          Don't truncate output\n"
        '      --platform string   Show history for the given platform. Formatted\n'
        '                          as "os[/arch[/variant]]" (e.g., "linux/amd64")\n'
        '  -q, --quiet             Only show image IDs\n'
    ),
    'image import': (
        'Usage:  dockyard image import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]\n'
        '\n'
        'Import the contents from a tarball to create a filesystem image\n'
        '\n'
        'Aliases:\n'
        '  dockyard image import, dockyard import\n'
        '\n'
        'Options:\n'
        '  -c, --change list       Apply Dockerfile instruction to the created image\n'
        '  -m, --message string    Set commit message for imported image\n'
        '      --platform string   Set platform if server is multi-platform capable\n'
    ),
    'image inspect': (
        'Usage:  dockyard image inspect [OPTIONS] IMAGE [IMAGE...]\n'
        '\n'
        'Display detailed information on one or more images\n'
        '\n'
        'Options:\n'
        '  -f, --format string     Format output using a custom template:\n'
        "                          'json':             Print in JSON format\n"
        "                          'TEMPLATE':         Print output using the\n"
        '                          given Go template.\n'
        '                          Refer to https://docs.docker.com/go/formatting/\n'
        '                          for more information about formatting output\n'
        '                          with templates\n'
        '      --platform string   Inspect a specific platform of the\n'
        '                          multi-platform image.\n'
        '                          If the image or the server is not\n'
        '                          multi-platform capable, the command will error\n'
        '                          out if the platform does not match.\n'
        "                          'os[/arch[/variant]]': Explicit platform (eg.\n"
        '                          linux/amd64)\n'
    ),
    'image load': (
        'Usage:  dockyard image load [OPTIONS]\n'
        '\n'
        'Load an image from a tar archive or STDIN\n'
        '\n'
        'Aliases:\n'
        '  dockyard image load, dockyard load\n'
        '\n'
        'Options:\n'
        '  -i, --input string      Read from tar archive file, instead of STDIN\n'
        '      --platform string   Load only the given platform variant. Formatted\n'
        '                          as "os[/arch[/variant]]" (e.g., "linux/amd64")\n'
        '  -q, --quiet             Suppress the load output\n'
    ),
    'image ls': (
        'Usage:  dockyard image ls [OPTIONS] [REPOSITORY[:TAG]]\n'
        '\n'
        'List images\n'
        '\n'
        'Aliases:\n'
        '  dockyard image ls, dockyard image list, dockyard images\n'
        '\n'
        'Options:\n'
        '  -a, --all             Show all images (default hides intermediate images)\n'
        '      --digests         Show digests\n'
        '  -f, --filter filter   Filter output based on conditions provided\n'
        '      --format string   Format output using a custom template:\n'
        "                        'table':            Print output in table format\n"
        '                        with column headers (default)\n'
        "                        'table TEMPLATE':   Print output in table format\n"
        '                        using the given Go template\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
        "      --no-trunc        Don't truncate output\n"
        '  -q, --quiet           Only show image IDs\n'
        '      --tree            List multi-platform images as a tree (EXPERIMENTAL)\n'
    ),
    'image pull': (
        'Usage:  dockyard image pull [OPTIONS] NAME[:TAG|@DIGEST]\n'
        '\n'
        'Download an image from a registry\n'
        '\n'
        'Aliases:\n'
        '  dockyard image pull, dockyard pull\n'
        '\n'
        'Options:\n'
        '  -a, --all-tags                Download all tagged images in the repository\n'
        '      --disable-content-trust   Skip image verification (default true)\n'
        '      --platform string         Set platform if server is multi-platform\n'
        '                                capable\n'
        '  -q, --quiet                   Suppress verbose output\n'
    ),
    'image push': (
        'Usage:  dockyard image push [OPTIONS] NAME[:TAG]\n'
        '\n'
        'Upload an image to a registry\n'
        '\n'
        'Aliases:\n'
        '  dockyard image push, dockyard push\n'
        '\n'
        'Options:\n'
        '  -a, --all-tags                Push all tags of an image to the repository\n'
        '      --disable-content-trust   Skip image signing (default true)\n'
        '      --platform string         Push a platform-specific manifest as a\n'
        '                                single-platform image to the registry.\n'
        "                                Image index won't be pushed, meaning that\n"
        '                                other manifests, including attestations\n'
        "                                won't be preserved.\n"
        "                                'os[/arch[/variant]]': Explicit platform\n"
        '                                (eg. linux/amd64)\n'
        '  -q, --quiet                   Suppress verbose output\n'
    ),
    'image rm': (
        'Usage:  dockyard image rm [OPTIONS] IMAGE [IMAGE...]\n'
        '\n'
        'Remove one or more images\n'
        '\n'
        'Aliases:\n'
        '  dockyard image rm, dockyard image remove, dockyard rmi\n'
        '\n'
        'Options:\n'
        '  -f, --force              Force removal of the image\n'
        '      --no-prune           Do not delete untagged parents\n'
        '      --platform strings   Remove only the given platform variant.\n'
        '                           Formatted as "os[/arch[/variant]]" (e.g.,\n'
        '                           "linux/amd64")\n'
    ),
    'image save': (
        'Usage:  dockyard image save [OPTIONS] IMAGE [IMAGE...]\n'
        '\n'
        'Save one or more images to a tar archive (streamed to STDOUT by default)\n'
        '\n'
        'Aliases:\n'
        '  dockyard image save, dockyard save\n'
        '\n'
        'Options:\n'
        '  -o, --output string     Write to a file, instead of STDOUT\n'
        '      --platform string   Save only the given platform variant. Formatted\n'
        '                          as "os[/arch[/variant]]" (e.g., "linux/amd64")\n'
    ),
    'image tag': (
        'Usage:  dockyard image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n'
        '\n'
        'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE\n'
        '\n'
        'Aliases:\n'
        '  dockyard image tag, dockyard tag\n'
    ),
    'container inspect': (
        'Usage:  dockyard container inspect [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Display detailed information on one or more containers\n'
        '\n'
        'Options:\n'
        '  -f, --format string   Format output using a custom template:\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
        '  -s, --size            Display total file sizes\n'
    ),
    'container kill': (
        'Usage:  dockyard container kill [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Kill one or more running containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container kill, dockyard kill\n'
        '\n'
        'Options:\n'
        '  -s, --signal string   Signal to send to the container\n'
    ),
    'container logs': (
        'Usage:  dockyard container logs [OPTIONS] CONTAINER\n'
        '\n'
        'Fetch the logs of a container\n'
        '\n'
        'Aliases:\n'
        '  dockyard container logs, dockyard logs\n'
        '\n'
        'Options:\n'
        '      --details        Show extra details provided to logs\n'
        '  -f, --follow         Follow log output\n'
        '      --since string   Show logs since timestamp (e.g.\n'
        '                       "2013-01-02T13:23:37Z") or relative (e.g. "42m"\n'
        '                       for 42 minutes)\n'
        '  -n, --tail string    Number of lines to show from the end of the logs\n'
        '                       (default "all")\n'
        '  -t, --timestamps     Show timestamps\n'
        '      --until string   Show logs before a timestamp (e.g.\n'
        '                       "2013-01-02T13:23:37Z") or relative (e.g. "42m"\n'
        '                       for 42 minutes)\n'
    ),
    'container ls': (
        'Usage:  dockyard container ls [OPTIONS]\n'
        '\n'
        'List containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container ls, dockyard container list, dockyard container ps, dockyard ps\n'
        '\n'
        'Options:\n'
        '  -a, --all             Show all containers (default shows just running)\n'
        '  -f, --filter filter   Filter output based on conditions provided\n'
        '      --format string   Format output using a custom template:\n'
        "                        'table':            Print output in table format\n"
        '                        with column headers (default)\n'
        "                        'table TEMPLATE':   Print output in table format\n"
        '                        using the given Go template\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
        '  -n, --last int        Show n last created containers (includes all\n'
        '                        states) (default -1)\n'
        '  -l, --latest          Show the latest created container (includes all\n'
        '                        states)\n'
        "      --no-trunc        Don't truncate output\n"
        '  -q, --quiet           Only display container IDs\n'
        '  -s, --size            Display total file sizes\n'
    ),
    'container pause': (
        'Usage:  dockyard container pause CONTAINER [CONTAINER...]\n'
        '\n'
        'Pause all processes within one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container pause, dockyard pause\n'
    ),
    'container rename': (
        'Usage:  dockyard container rename CONTAINER NEW_NAME\n'
        '\n'
        'Rename a container\n'
        '\n'
        'Aliases:\n'
        '  dockyard container rename, dockyard rename\n'
    ),
    'container restart': (
        'Usage:  dockyard container restart [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Restart one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container restart, dockyard restart\n'
        '\n'
        'Options:\n'
        '  -s, --signal string   Signal to send to the container\n'
        '  -t, --timeout int     Seconds to wait before killing the container\n'
    ),
    'container rm': (
        'Usage:  dockyard container rm [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Remove one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container rm, dockyard container remove, dockyard rm\n'
        '\n'
        'Options:\n'
        '  -f, --force     Force the removal of a running container (uses SIGKILL)\n'
        '  -l, --link      Remove the specified link\n'
        '  -v, --volumes   Remove anonymous volumes associated with the container\n'
    ),
    'container start': (
        'Usage:  dockyard container start [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Start one or more stopped containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container start, dockyard start\n'
        '\n'
        'Options:\n'
        '  -a, --attach                  Attach STDOUT/STDERR and forward signals\n'
        '      --checkpoint string       Restore from this checkpoint\n'
        '      --checkpoint-dir string   Use a custom checkpoint storage directory\n'
        '      --detach-keys string      Override the key sequence for detaching a\n'
        '                                container\n'
        "  -i, --interactive             Attach container's STDIN\n"
    ),
    'container stop': (
        'Usage:  dockyard container stop [OPTIONS] CONTAINER [CONTAINER...]\n'
        '\n'
        'Stop one or more running containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container stop, dockyard stop\n'
        '\n'
        'Options:\n'
        '  -s, --signal string   Signal to send to the container\n'
        '  -t, --timeout int     Seconds to wait before killing the container\n'
    ),
    'container top': (
        'Usage:  dockyard container top CONTAINER [ps OPTIONS]\n'
        '\n'
        'Display the running processes of a container\n'
        '\n'
        'Aliases:\n'
        '  dockyard container top, dockyard top\n'
    ),
    'container unpause': (
        'Usage:  dockyard container unpause CONTAINER [CONTAINER...]\n'
        '\n'
        'Unpause all processes within one or more containers\n'
        '\n'
        'Aliases:\n'
        '  dockyard container unpause, dockyard unpause\n'
    ),
    'container wait': (
        'Usage:  dockyard container wait CONTAINER [CONTAINER...]\n'
        '\n'
        'Block until one or more containers stop, then print their exit codes\n'
        '\n'
        'Aliases:\n'
        '  dockyard container wait, dockyard wait\n'
    ),
    'system info': (
        'Usage:  dockyard system info [OPTIONS]\n'
        '\n'
        'Display system-wide information\n'
        '\n'
        'Aliases:\n'
        '  dockyard system info, dockyard info\n'
        '\n'
        'Options:\n'
        '  -f, --format string   Format output using a custom template:\n'
        "                        'json':             Print in JSON format\n"
        "                        'TEMPLATE':         Print output using the given\n"
        '                        Go template.\n'
        '                        Refer to https://docs.docker.com/go/formatting/\n'
        '                        for more information about formatting output with\n'
        '                        templates\n'
    ),
}
