/**
 * AIOpsLab's exact agent-facing text: the task descriptions and instructions (tasks/*.py after
 * textwrap.dedent — note the instructions keep their indentation, because the embedded `\n` lines
 * have none, so dedent finds no common margin) and the action docstrings (`__doc__.strip()`, in
 * `dir()` order), reproduced from microsoft/AIOpsLab (commit ddf7e40): keep them byte-exact.
 */
import type { TaskType } from '../environment.ts';

export interface TaskText {
  /** Contains `{app_summary}`, replaced with the app summary (Python str.format). */
  descriptionTemplate: string;
  instructions: string;
  apis: Readonly<Record<string, string>>;
}

/** The docstrings every task type offers (TaskActions in actions/base.py); only `submit` differs. */
const SHARED_APIS = {
  exec_shell:
    'Execute any shell command in a predefined debugging environment.\n        Note: this is NOT A STATEFUL OR INTERACTIVE shell session. So you cannot\n        execute commands like "kubectl edit".\n\n        Args:\n            command (str): The command to execute.\n            timeout (int): Timeout in seconds for the command execution. Default is 30.\n\n        Returns:\n            str: The output of the command.',
  get_logs:
    'Collects relevant log data from a pod using Kubectl or from a container with Docker.\n\n        Args:\n            namespace (str): The namespace in which the service is running.\n            service (str): The name of the service.\n\n        Returns:\n            str | dict | list[dicts]: Log data as a structured object or a string.',
  get_metrics:
    'Collects metrics data from the service using Prometheus.\n\n        Args:\n            namespace (str): The namespace in which the service is running.\n            duration (int): The number of minutes from now to start collecting metrics until now.\n\n        Returns:\n            str: Path to the directory where metrics are saved.',
  get_traces:
    'Collects trace data from the service using Jaeger.\n\n        Args:\n            namespace (str): The namespace in which the service is running.\n            duration (int): The number of minutes from now to start collecting traces until now.\n\n        Returns:\n            str: Path to the directory where traces are saved.',
  read_metrics:
    'Reads and returns metrics from a specified CSV file.\n\n        Args:\n            file_path (str): Path to the metrics file (CSV format).\n\n        Returns:\n            str: The requested metrics or an error message.',
  read_traces:
    'Reads and returns traces from a specified CSV file.\n\n        Args:\n            file_path (str): Path to the traces file (CSV format).\n\n        Returns:\n            str: The requested traces or an error message.',
} as const;

export const TASK_TEXT: Readonly<Record<TaskType, TaskText>> = {
  detection: {
    descriptionTemplate:
      'You are an expert DevOps engineer assigned to detect anomalies in a deployed service.\n\nService Details:\n{app_summary}\n\nYou will begin by analyzing the service\'s state and telemetry, and then submit your solution:\n1. str: "Yes" or "No" to indicate whether there are anomalies detected\n',
    instructions:
      '            You will respond with one of the above APIs as your next action.\n            Please respond in the following format in a markdown code block:\n            ```\n<API_NAME>(<API_PARAM1>, <API_PARAM2> ...)\n```\n\n            For instance, if you want to list files in current directory, your response must be exactly:\n\n            ```\nexec_shell("ls -l")\n```\n\n            If you decide that there are no anomalies:\n\n            ```\nsubmit("No")\n```\n\n            Or, if anomalies are found:\n\n            ```\nsubmit("Yes")\n```\n\n            Please respond with only a single API call (a.k.a., action) per turn without any additional words, labels, or prefixes.\n',
    apis: {
      ...SHARED_APIS,
      submit:
        'Submit if anomalies are detected to the orchestrator for evaluation.\n\n        Args:\n            has_anomaly (str): "Yes" if anomalies are detected, "No" otherwise.\n\n        Returns:\n            SubmissionStatus: The status of the submission.',
    },
  },
  localization: {
    descriptionTemplate:
      "You are an expert DevOps engineer assigned to localize faults in a deployed service.\n\nService Details:\n{app_summary}\n\nYou are requested to identify the service(s) where the root cause of the fault lies.\nYou will begin by analyzing the service's state and telemetry, and then submit one of two possible solutions:\n1. list[str]: list of faulty components (i.e., service names)\n2. list[]: an empty list if no faults were detected\n",
    instructions:
      '            You will respond with one of the above APIs as your next action.\n            Please respond in the following format in a markdown code block:\n            ```\n<API_NAME>(<API_PARAM1>, <API_PARAM2> ...)\n```\n\n            For instance, if you want to list files in current directory, your response must be exactly:\n\n            ```\nexec_shell("ls -l")\n```\n\n            If there are faulty components to submit:\n\n            ```\nsubmit(["placeholderA", "placeholderB"])\n```\n\n            (where "placeholderA" and "placeholderB" are placeholders; replace them with the faulty components in your environment)\n\n            Or, if no faults are found:\n\n            ```\nsubmit([])\n```\n\n            Please respond with only a single API call (a.k.a., action) per turn without any additional words, labels, or prefixes.\n',
    apis: {
      ...SHARED_APIS,
      submit:
        'Submit the detected faulty components to the orchestrator for evaluation.\n\n        Args:\n            faulty_components (list[str]): List of faulty components (i.e., service names).\n\n        Returns:\n            SubmissionStatus: The status of the submission.',
    },
  },
  analysis: {
    descriptionTemplate:
      "You are an expert DevOps engineer assigned to do root cause analysis in a deployed service.\n\nService Details:\n{app_summary}\n\nYou will begin by analyzing the service's state and telemetry, and then submit one of two possible solutions:\n1. dict[str, str]: A dictionary with two keys: 'system_level' and 'fault_type'.\n    - system_level: The system level at which the fault occurred. Please choose from the following options:\n        - 'Hardware'\n        - 'Operating System'\n        - 'Virtualization'\n        - 'Application'\n    - fault_type: The type of fault that occurred. Please choose from the following options:\n        - 'Misconfiguration'\n        - 'Code Defect'\n        - 'Authentication Issue'\n        - 'Network/Storage Issue'\n        - 'Operation Error'\n        - 'Dependency Problem'\n\n2. str: `None` if no faults were detected\n",
    instructions:
      '            You will respond with one of the above APIs as your next action.\n            Please respond in the following format in a markdown code block:\n            ```\n<API_NAME>(<API_PARAM1>, <API_PARAM2> ...)\n```\n\n            For instance, if you want to list files in current directory, your response must be exactly:\n\n            ```\nexec_shell("ls -l")\n```\n\n            When submitting your analysis, use the following format:\n\n            ```\nsubmit({"system_level": "your_system_level_analysis", "fault_type": "your_fault_type_analysis"})\n```\n\n            Replace "your_system_level_analysis" and "your_fault_type_analysis" with the actual analysis of the system level and fault type.\n\n            Or, if no fault is detected, you should respond with:\n\n            ```\nsubmit()\n```\n\n            Please respond with only a single API call (a.k.a., action) per turn without any additional words, labels, or prefixes.\n',
    apis: {
      ...SHARED_APIS,
      submit:
        "Submit the analysis solution to the orchestrator for evaluation.\n\n        Args:\n            analysis (dict[str]): A dictionary with two keys: 'system_level' and 'fault_type'.\n\n        Returns:\n            SubmissionStatus: The status of the submission.",
    },
  },
  mitigation: {
    descriptionTemplate:
      "You are an expert DevOps engineer assigned to mitigate anomalies in a deployed service.\n\nService Details:\n{app_summary}\n\nYou will begin by analyzing the service's state and telemetry, and then submit a solution that mitigates any detected anomalies.\nYour mitigation can be performed using any of the available APIs.\n",
    instructions:
      '            You will respond with one of the above APIs as your next action.\n            Please respond in the following format in a markdown code block:\n            ```\n<API_NAME>(<API_PARAM1>, <API_PARAM2> ...)\n```\n\n            For instance, if you want to list files in current directory, your response must be exactly:\n\n            ```\nexec_shell("ls -l")\n```\n\n            Once your solution is complete and ready for evaluation, you must call:\n\n            ```\nsubmit()\n```\n\n            Note:\n            - The submit() call for the mitigation task does not take any parameters.\n            - A submission via submit() is considered valid if it is made, though this does not necessarily indicate that your solution is correct.\n\n            Please respond with only a single API call (a.k.a., action) per turn without any additional words, labels, or prefixes.\n',
    apis: {
      ...SHARED_APIS,
      submit:
        'Submit once your mitigation solution is complete and ready to be evaluated.\n\n        Args:\n            None\n\n        Returns:\n            SubmissionStatus: The status of the submission.',
    },
  },
};

/** Application.get_app_summary() for the modelled apps. */
export const APP_SUMMARIES: Readonly<Record<string, string>> = {
  'hotel-reservation':
    'Service Name: Hotel Reservation\nNamespace: test-hotel-reservation\nDescription: A hotel reservation application built with Go and gRPC, providing backend in-memory and persistent databases, a recommender system for hotel recommendations, and a functionality to place reservations.\nSupported Operations:\n  - Get profile and rates of nearby hotels available during given time periods\n  - Recommend hotels based on user provided metrics\n  - Place reservations',
  'social-network':
    'Service Name: Social Network\nNamespace: test-social-network\nDescription: A social network with unidirectional follow relationships, implemented with loosely-coupled microservices, communicating with each other via Thrift RPCs.\nSupported Operations:\n  - Create text post (optional media: image, video, shortened URL, user tag)\n  - Read post\n  - Read entire user timeline\n  - Receive recommendations on which users to follow\n  - Search database for user or post\n  - Register/Login using user credentials\n  - Follow/Unfollow user',
};
